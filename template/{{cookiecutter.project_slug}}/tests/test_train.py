"""Real training runs through the Hydra entry point, on the embedded digits data."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = "{{ cookiecutter.package_name }}"
EVAL_LINE = re.compile(r"(eval\w*) step (\d+): .*\baccuracy=([0-9.]+)")


def train(*overrides, check=True, env=None):
    result = subprocess.run(
        [sys.executable, "-m", f"{PACKAGE}.train", *overrides],
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def evaluations(output):
    """(step, accuracy) of every evaluation line a run logged."""
    return [(int(step), float(acc)) for _, step, acc in EVAL_LINE.findall(output)]


def checkpoints(folder):
    return sorted(Path(folder).rglob("*.index"))


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    result = train(
        f"hydra.run.dir={run_dir}", "trainer.max_steps=300", "evaluator.every_n_iter=100"
    )
    return run_dir, result


def test_training_evaluates_at_start_every_n_and_end(short_run):
    _, result = short_run
    steps = [step for step, _ in evaluations(result.stdout + result.stderr)]
    assert steps == [0, 100, 200, 300]


def test_each_evaluation_is_appended_to_the_runs_jsonl(short_run):
    run_dir, result = short_run
    records = [
        json.loads(line) for line in (run_dir / "evaluations.jsonl").read_text().splitlines()
    ]
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
    assert list((run_dir / "export").glob("*/saved_model.pb"))


def test_custom_model_fn_trains_and_names_its_eval_folder(tmp_path):
    result = train(
        f"hydra.run.dir={tmp_path}",
        "model=custom",
        "trainer.max_steps=200",
        "evaluator.every_n_iter=100",
        "evaluator.name=holdout",
        "trainer.export_saved_model=false",
    )
    evals = evaluations(result.stdout + result.stderr)
    assert evals[-1][1] > evals[0][1]
    assert list((tmp_path / "eval_holdout").glob("events.out.tfevents.*"))


def test_resume_continues_from_the_checkpoint(short_run, tmp_path):
    run_dir, _ = short_run
    result = train(
        f"hydra.run.dir={tmp_path}",
        f"model_dir={run_dir}",
        "trainer.max_steps=400",
        "evaluator.every_n_iter=100",
        "trainer.export_saved_model=false",
    )
    steps = [step for step, _ in evaluations(result.stdout + result.stderr)]
    assert steps[0] == 300 and steps[-1] == 400
    assert not checkpoints(tmp_path)


def test_csv_data(tmp_path):
    from sklearn.datasets import load_iris

    x, y = load_iris(return_X_y=True)
    for name, rows in (("train", range(0, 150, 2)), ("eval", range(1, 150, 2))):
        with open(tmp_path / f"{name}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["a", "b", "c", "d", "label"])
            writer.writerows([*x[i], y[i]] for i in rows)
    result = train(
        f"hydra.run.dir={tmp_path / 'run'}",
        "data=csv",
        f"data.train_path={tmp_path / 'train.csv'}",
        f"data.eval_path={tmp_path / 'eval.csv'}",
        "trainer.max_steps=100",
        "evaluator.every_n_iter=50",
        "trainer.export_saved_model=false",
    )
    assert [step for step, _ in evaluations(result.stdout)][-1] == 100


def test_multirun_gives_each_job_its_own_model_dir(tmp_path):
    train(
        "--multirun",
        f"hydra.sweep.dir={tmp_path}",
        "trainer.learning_rate=0.05,0.1",
        "trainer.max_steps=20",
        "evaluator.every_n_iter=10",
        "trainer.export_saved_model=false",
    )
    assert checkpoints(tmp_path / "0") and checkpoints(tmp_path / "1")


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.max_stepz=5", "Could not override 'trainer.max_stepz'"),
        ("model=transformer", "Could not find 'model/transformer'"),
        ("trainer.max_steps=-5", "trainer.max_steps must be a positive integer"),
        ("data=csv", "no value given for data.eval_path, data.train_path"),
    ],
)
def test_bad_override_fails_before_any_checkpoint(tmp_path, override, message):
    result = train(f"hydra.run.dir={tmp_path / 'run'}", override, check=False)
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
    result = train(f"hydra.run.dir={tmp_path / 'run'}", check=False, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not checkpoints(tmp_path)


def test_console_script_is_installed(tmp_path):
    script = Path(sys.executable).with_name("{{ cookiecutter.project_slug }}-train")
    result = subprocess.run(
        [str(script), "--cfg", "job"], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "every_n_iter" in result.stdout
