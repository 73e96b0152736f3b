"""Training runs: `train(cfg)` in-process on the fixture's digits, and the real entry point
(`python -m fixture_project.train`, a project's `Project.main`) where it is the subject."""

import json
import resource
import shutil
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from estimator_inmemory import ConfigError, DataError, EstimatorInMemoryError, config
from helpers import (
    checkpoints,
    compose_train,
    evaluations,
    jsonl,
    run_entry_point,
    train,
    without_tensorflow,
    write_iris_csv,
)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """The real entry point, in its own process: 300 steps, evaluated every 100."""
    run_dir = tmp_path_factory.mktemp("run")
    result = run_entry_point(
        f"hydra.run.dir={run_dir}", "trainer.max_steps=300", "evaluator.every_n_iter=100"
    )
    return run_dir, result


@pytest.fixture(scope="module")
def no_tensorflow(tmp_path_factory):
    env = without_tensorflow(tmp_path_factory.mktemp("no_tensorflow"))
    imported = subprocess.run(
        [sys.executable, "-c", "import tensorflow"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "TensorFlow was imported" in imported.stderr  # else the tests below prove nothing
    return env


def children_cpu_seconds() -> float:
    """The CPU time of this process's finished children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_entry_point_evaluates_at_start_every_n_and_end(short_run):
    _, result = short_run
    steps = [step for step, _ in evaluations(result.stdout + result.stderr)]
    assert steps == [0, 100, 200, 300]


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_each_evaluation_is_appended_to_the_runs_jsonl(short_run):
    run_dir, result = short_run
    records = jsonl(run_dir / "evaluations.jsonl")
    assert [r["step"] for r in records] == [0, 100, 200, 300]
    logged = evaluations(result.stdout + result.stderr)
    assert [r["accuracy"] for r in records] == pytest.approx([acc for _, acc in logged], abs=1e-3)


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_final_accuracy_beats_the_untrained_model(short_run):
    _, result = short_run
    evals = evaluations(result.stdout + result.stderr)
    (_, first), (_, last) = evals[0], evals[-1]
    assert last > first + 0.3, evals


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_run_folder_holds_checkpoints_eval_summaries_and_saved_model(short_run):
    run_dir, _ = short_run
    assert checkpoints(run_dir)
    assert list((run_dir / "eval").glob("events.out.tfevents.*"))
    assert list((run_dir / "export" / "best").glob("*/saved_model.pb"))


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_the_runs_stored_config_gives_the_settings_it_trained_with(short_run):
    run_dir, _ = short_run
    stored = OmegaConf.create((run_dir / ".hydra" / "config.yaml").read_text())
    composed = compose_train("trainer.max_steps=300", "evaluator.every_n_iter=100")
    assert config.settings(stored) == config.settings(composed)


def test_train_returns_the_best_value_and_the_last_evaluation_in_process(tmp_path):
    results = train(compose_train("trainer.max_steps=60", "evaluator.every_n_iter=30"), tmp_path)
    records = jsonl(tmp_path / "evaluations.jsonl")
    assert [r["step"] for r in records] == [0, 30, 60]
    assert results["metrics"]["global_step"] == 60
    last = records[-1]
    assert results["metrics"] == pytest.approx(
        {k: v for k, v in last.items() if k not in ("eval", "step", "improved")}
    )
    assert (results["monitor"], results["mode"]) == ("accuracy", "max")
    assert results["best"] == max(r["accuracy"] for r in records)
    best = max(records, key=lambda r: r["accuracy"])
    assert results["best_step"] == best["step"] and results["stopped_early"] is False


def test_a_model_fn_trains_and_names_its_eval_folder(tmp_path):
    cfg = compose_train(
        "model=mlp",
        "trainer.max_steps=100",
        "evaluator.every_n_iter=50",
        "evaluator.name=holdout",
        "trainer.export=none",
    )
    train(cfg, tmp_path)
    records = jsonl(tmp_path / "evaluations.jsonl")
    assert [r["eval"] for r in records] == ["eval_holdout"] * 3
    assert records[-1]["accuracy"] > records[0]["accuracy"]
    assert list((tmp_path / "eval_holdout").glob("events.out.tfevents.*"))
    assert not (tmp_path / "eval").exists()
    assert not (tmp_path / "export").exists()  # trainer.export=none


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_resume_continues_from_the_checkpoint_and_records_in_model_dir(short_run, tmp_path):
    run_dir = shutil.copytree(short_run[0], tmp_path / "earlier")  # the module's run stays as is
    before = len(jsonl(run_dir / "evaluations.jsonl"))
    cfg = compose_train(
        f"model_dir={run_dir}",
        "trainer.max_steps=400",
        "evaluator.every_n_iter=100",
        "trainer.export=none",
    )
    results = train(cfg, tmp_path / "now")
    assert results["metrics"]["global_step"] == 400
    # Step 300 was evaluated before: only 400 is new.
    assert [r["step"] for r in jsonl(run_dir / "evaluations.jsonl")[before:]] == [400]
    assert not checkpoints(tmp_path / "now")


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
    assert train(cfg, tmp_path / "run")["metrics"]["global_step"] == 100


EXPECTED_ERRORS = [
    (["trainer.max_steps=-5"], ConfigError, "trainer.max_steps must be a positive integer"),
    (["data=csv"], ConfigError, "no value given for data.eval_path, data.train_path"),
    (
        ["data=csv", "data.train_path=nowhere.csv", "data.eval_path=nowhere.csv"],
        DataError,
        "data file nowhere.csv does not exist",
    ),
    # The project's own checks, in its dataset loader and its registries.
    (["data.eval_fraction=1"], ConfigError, "data.eval_fraction must be between 0 and 1"),
    (
        ["model.name=transformer"],
        ConfigError,
        (
            r"model.name='transformer' has nothing registered: register a function with "
            r"@MODELS.register\('transformer'\) \(registered: dnn, linear, mlp\)"
        ),
    ),
]


@pytest.mark.parametrize(
    "overrides, error, message", EXPECTED_ERRORS, ids=[" ".join(o) for o, _, _ in EXPECTED_ERRORS]
)
def test_expected_errors_are_library_errors_raised_before_any_checkpoint(
    tmp_path, overrides, error, message
):
    with pytest.raises(error, match=message) as raised:
        train(compose_train(*overrides), tmp_path)
    assert isinstance(raised.value, EstimatorInMemoryError)
    assert not checkpoints(tmp_path)
    assert not (tmp_path / "evaluations.jsonl").exists()


@pytest.mark.slow  # a second process that imports TensorFlow: ~15 s on a busy machine
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
    assert [r["step"] for r in jsonl(tmp_path / "0" / "evaluations.jsonl")] == [0, 10, 20]
    assert [r["step"] for r in jsonl(tmp_path / "1" / "evaluations.jsonl")] == [0, 10, 20]


# (override, what stderr says, the exit code): Hydra's own refusals exit 1 with its message;
# the library's exit 2 with one line.
BAD_OVERRIDES = [
    ("trainer.max_stepz=5", "Could not override 'trainer.max_stepz'", 1),
    ("trainer.max_steps=abc", "full_key: trainer.max_steps", 1),
    ("evaluator.every_n_itr=3", "Key 'every_n_itr' not in 'InMemoryEvaluator'", 1),
    ("model=transformer", "Could not find 'model/transformer'", 1),
    ("trainer.max_steps=-5", "error: invalid config: trainer.max_steps must be", 2),
    ("data=csv", "error: no value given for data.eval_path, data.train_path", 2),
    ("evaluator.kind=foo", "error: evaluator.kind='foo': use evaluator=in_memory or", 2),
]


@pytest.mark.parametrize(
    "override, message, code", BAD_OVERRIDES, ids=[o for o, _, _ in BAD_OVERRIDES]
)
def test_a_bad_override_fails_before_tensorflow_is_imported(
    tmp_path, no_tensorflow, override, message, code
):
    run = tmp_path / "run"
    before = children_cpu_seconds()
    result = run_entry_point(f"hydra.run.dir={run}", override, check=False, env=no_tensorflow)
    # Python, Hydra and the check: ~0.7 s of CPU (TensorFlow's import alone takes several).
    assert children_cpu_seconds() - before < 1.5
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "TensorFlow was imported" not in result.stderr
    if code == 2:  # an expected error: one line, and the attempt's folder is gone
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
        assert not run.exists()
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
def test_multi_node_tf_config_stops_the_entry_point_with_one_line(
    tmp_path, no_tensorflow, tf_config, message
):
    env = {
        **no_tensorflow,
        "TF_CONFIG": tf_config if isinstance(tf_config, str) else json.dumps(tf_config),
    }
    result = run_entry_point(f"hydra.run.dir={tmp_path / 'run'}", check=False, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not checkpoints(tmp_path)


def test_the_entry_point_shows_the_config_without_training(tmp_path, no_tensorflow):
    # What a project's `<slug>-train --cfg job` runs: Project.main.
    result = run_entry_point("--cfg", "job", "evaluator.every_n_iter=7", env=no_tensorflow)
    shown = OmegaConf.create(result.stdout)
    assert shown.evaluator.every_n_iter == 7
    assert config.settings(shown) == config.settings(compose_train("evaluator.every_n_iter=7"))


def test_a_model_dir_removed_and_trained_again_in_one_process_keeps_its_summaries(tmp_path):
    # A notebook's "delete the run and train again": TensorFlow's per-folder writer cache
    # kept writing that run's summaries to the deleted event files.
    cfg = compose_train("trainer.max_steps=20", "evaluator.every_n_iter=10")
    for _ in range(2):
        shutil.rmtree(tmp_path / "run", ignore_errors=True)
        train(cfg, tmp_path / "run")
        assert list((tmp_path / "run").glob("events.out.tfevents.*")), "training summaries"
        assert list((tmp_path / "run" / "eval").glob("events.out.tfevents.*")), "eval summaries"
