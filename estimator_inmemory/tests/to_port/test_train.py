"""Training runs: `train(cfg)` in-process on the embedded digits, and the real entry point."""

import json
import os
from pathlib import Path

import pytest
from helpers import checkpoints, compose_train, evaluations, jsonl, run_entry_point, write_iris_csv

from {{ cookiecutter.package_name }}.errors import ConfigError, DataError, ProjectError
from {{ cookiecutter.package_name }}.train import train


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """The real entry point, in its own process: 300 steps, evaluated every 100."""
    run_dir = tmp_path_factory.mktemp("run")
    result = run_entry_point(
        f"hydra.run.dir={run_dir}", "trainer.max_steps=300", "evaluator.every_n_iter=100"
    )
    return run_dir, result


def test_entry_point_evaluates_at_start_every_n_and_end(short_run):
    _, result = short_run
    steps = [step for step, _ in evaluations(result.stdout + result.stderr)]
    assert steps == [0, 100, 200, 300]


def test_each_evaluation_is_appended_to_the_runs_jsonl(short_run):
    run_dir, result = short_run
    records = jsonl(run_dir / "evaluations.jsonl")
    assert [r["step"] for r in records] == [0, 100, 200, 300]
    logged = evaluations(result.stdout + result.stderr)
    assert [r["accuracy"] for r in records] == pytest.approx([acc for _, acc in logged], abs=1e-3)


def test_final_accuracy_beats_the_untrained_model(short_run):
    _, result = short_run
    evals = evaluations(result.stdout + result.stderr)
    (_, first), (_, last) = evals[0], evals[-1]
    assert last > first + 0.3, evals


def test_run_folder_holds_checkpoints_eval_summaries_and_saved_model(short_run):
    run_dir, _ = short_run
    assert checkpoints(run_dir)
    assert list((run_dir / "eval").glob("events.out.tfevents.*"))
    assert list((run_dir / "export").glob("*/*/saved_model.pb"))


def test_train_returns_the_best_value_and_the_last_evaluation_in_process(tmp_path):
    results = train(
        compose_train("trainer.max_steps=60", "evaluator.every_n_iter=30"), run_dir=tmp_path
    )
    records = jsonl(tmp_path / "evaluations.jsonl")
    assert results["metrics"]["global_step"] == 60
    last = records[-1]
    assert results["metrics"] == pytest.approx(
        {k: v for k, v in last.items() if k not in ("eval", "step", "improved")}
    )
    assert (results["monitor"], results["mode"]) == ("accuracy", "max")
    assert results["best"] == max(r["accuracy"] for r in records)


def test_custom_model_fn_trains_and_names_its_eval_folder(tmp_path):
    cfg = compose_train(
        "model=custom",
        "trainer.max_steps=200",
        "evaluator.every_n_iter=100",
        "evaluator.name=holdout",
        "trainer.export=none",
    )
    train(cfg, run_dir=tmp_path)
    records = jsonl(tmp_path / "evaluations.jsonl")
    assert [r["eval"] for r in records] == ["eval_holdout"] * 3
    assert records[-1]["accuracy"] > records[0]["accuracy"]
    assert list((tmp_path / "eval_holdout").glob("events.out.tfevents.*"))


def test_resume_continues_from_the_checkpoint_and_records_in_model_dir(short_run, tmp_path):
    run_dir, _ = short_run
    before = len(jsonl(run_dir / "evaluations.jsonl"))
    cfg = compose_train(
        f"model_dir={run_dir}",
        "trainer.max_steps=400",
        "evaluator.every_n_iter=100",
        "trainer.export=none",
    )
    results = train(cfg, run_dir=tmp_path)
    assert results["metrics"]["global_step"] == 400
    assert [r["step"] for r in jsonl(run_dir / "evaluations.jsonl")[before:]][-1] == 400
    assert not checkpoints(tmp_path)


def test_csv_data(tmp_path):
    train_csv, eval_csv = write_iris_csv(tmp_path)
    cfg = compose_train(
        "data=csv",
        f"data.train_path={train_csv}",
        f"data.eval_path={eval_csv}",
        "trainer.max_steps=100",
        "evaluator.every_n_iter=50",
        "trainer.export=none",
    )
    assert train(cfg, run_dir=tmp_path / "run")["metrics"]["global_step"] == 100


@pytest.mark.parametrize(
    "overrides, error, message",
    [
        (["trainer.max_steps=-5"], ConfigError, "trainer.max_steps must be a positive integer"),
        (["data=csv"], ConfigError, "no value given for data.eval_path, data.train_path"),
        (
            ["data=csv", "data.train_path=nowhere.csv", "data.eval_path=nowhere.csv"],
            DataError,
            "data file nowhere.csv does not exist",
        ),
    ],
)
def test_expected_errors_are_project_errors_raised_before_any_checkpoint(
    tmp_path, overrides, error, message
):
    with pytest.raises(error, match=message) as raised:
        train(compose_train(*overrides), run_dir=tmp_path)
    assert isinstance(raised.value, ProjectError)
    assert not checkpoints(tmp_path)


def test_multirun_gives_each_job_its_own_model_dir(tmp_path):
    run_entry_point(
        "--multirun",
        f"hydra.sweep.dir={tmp_path}",
        "trainer.learning_rate=0.05,0.1",
        "trainer.max_steps=20",
        "evaluator.every_n_iter=10",
        "trainer.export=none",
    )
    assert checkpoints(tmp_path / "0") and checkpoints(tmp_path / "1")


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.max_stepz=5", "Could not override 'trainer.max_stepz'"),
        ("model=transformer", "Could not find 'model/transformer'"),
        ("trainer.max_steps=-5", "error: invalid config: trainer.max_steps must be"),
        ("data=csv", "error: no value given for data.eval_path, data.train_path"),
    ],
)
def test_bad_override_fails_before_any_checkpoint(tmp_path, override, message):
    result = run_entry_point(f"hydra.run.dir={tmp_path / 'run'}", override, check=False)
    assert result.returncode != 0
    assert message in result.stderr
    assert not checkpoints(tmp_path)


@pytest.mark.parametrize(
    "tf_config, message",
    [
        (
            {
                "cluster": {"chief": ["localhost:2222"], "worker": ["localhost:2223"]},
                "task": {"type": "worker", "index": 0},
            },
            "TF_CONFIG describes a multi-node cluster (1 chief, 1 worker)",
        ),
        ("{broken", "TF_CONFIG is not JSON"),
    ],
)
def test_multi_node_tf_config_stops_the_entry_point_with_one_line(tmp_path, tf_config, message):
    env = {
        **os.environ,
        "TF_CONFIG": tf_config if isinstance(tf_config, str) else json.dumps(tf_config),
    }
    result = run_entry_point(f"hydra.run.dir={tmp_path / 'run'}", check=False, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not checkpoints(tmp_path)


def test_console_script_is_installed():
    import subprocess
    import sys

    script = Path(sys.executable).with_name("{{ cookiecutter.project_slug }}-train")
    result = subprocess.run(
        [str(script), "--cfg", "job"], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "every_n_iter" in result.stdout
