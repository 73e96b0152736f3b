"""The best model and early stopping, driven by the in-memory metrics, surviving restarts."""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from estimator_inmemory.best import read_record
from estimator_inmemory.config import settings
from estimator_inmemory.data import eval_input_fn
from estimator_inmemory.errors import UnknownMonitorError
from estimator_inmemory.training import build_estimator, load_dataset
from helpers import PACKAGE, checkpoints, compose_train, jsonl, project, subprocess_env, train


def estimator_and_data(cfg, model_dir):
    s = settings(cfg)
    data = load_dataset(s.data, project.datasets)
    return build_estimator(s.model, s.trainer, data, str(model_dir), project.models), data


@pytest.fixture(scope="module")
def best_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("best")
    cfg = compose_train(
        "trainer.max_steps=200", "evaluator.every_n_iter=25", "evaluator.keep_best=2"
    )
    return cfg, run_dir, train(cfg, run_dir=run_dir)


def test_best_json_records_the_best_evaluation(best_run):
    _, run_dir, results = best_run
    record = read_record(run_dir)
    evaluations = jsonl(run_dir / "evaluations.jsonl")
    best = max(evaluations, key=lambda e: e["accuracy"])
    assert (record["monitor"], record["mode"]) == ("accuracy", "max")
    assert record["value"] == best["accuracy"] == results["best"]
    assert record["step"] == results["best_step"]
    assert record["metrics"]["accuracy"] == record["value"]
    # The JSONL marks exactly the evaluations that beat every earlier one.
    running, marks = None, []
    for e in evaluations:
        marks.append(running is None or e["accuracy"] > running)
        running = e["accuracy"] if running is None else max(running, e["accuracy"])
    assert [e["improved"] for e in evaluations] == marks


def test_best_checkpoint_reproduces_the_record_through_evaluate(best_run):
    cfg, run_dir, _ = best_run
    record = read_record(run_dir)
    estimator, data = estimator_and_data(cfg, run_dir)
    best = tf.train.latest_checkpoint(str(run_dir / "best"))
    assert best.endswith(f"model.ckpt-{record['step']}")
    metrics = estimator.evaluate(
        eval_input_fn(data, cfg.evaluator.batch_size), checkpoint_path=best, name="best_check"
    )
    for key, value in record["metrics"].items():
        assert metrics[key] == pytest.approx(value, rel=1e-6, abs=1e-7), key


def test_keep_best_keeps_the_k_best_checkpoints(best_run):
    _, run_dir, _ = best_run
    record = read_record(run_dir)
    values = sorted((e["accuracy"] for e in jsonl(run_dir / "evaluations.jsonl")), reverse=True)
    assert [k["value"] for k in record["kept"]] == values[:2]
    kept_files = {
        p.name.split(".")[0] + "." + p.name.split(".")[1]
        for p in (run_dir / "best").glob("model.ckpt-*")
    }
    assert kept_files == {k["checkpoint"] for k in record["kept"]}


def test_export_is_made_from_the_best_weights(best_run):
    cfg, run_dir, _ = best_run
    record = read_record(run_dir)
    [export] = (run_dir / "export" / "best").iterdir()
    _, data = estimator_and_data(cfg, run_dir)
    predict = tf.saved_model.load(str(export)).signatures["predict"]
    classes = predict(x=tf.constant(data.eval_x))["class_ids"].numpy().ravel()
    accuracy = float(np.mean(classes == data.eval_y))
    assert accuracy == pytest.approx(record["metrics"]["accuracy"], abs=1e-6)
    assert not (run_dir / "export" / "last").exists()


def test_a_plateau_stops_after_patience_evaluations_without_a_duplicate(tmp_path, caplog):
    # min_delta=1: no accuracy can improve by more than 1, so only the first evaluation counts.
    cfg = compose_train(
        "trainer.max_steps=500",
        "evaluator.every_n_iter=20",
        "evaluator.min_delta=1",
        "evaluator.patience=2",
        "trainer.save_checkpoints_steps=1000",
    )
    with caplog.at_level(logging.INFO):
        results = train(cfg, run_dir=tmp_path)
    assert [e["step"] for e in jsonl(tmp_path / "evaluations.jsonl")] == [0, 20, 40]
    assert results["stopped_early"] and results["best_step"] == 0
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("model.ckpt-40")
    stops = [r.message for r in caplog.records if "early stopping" in r.message]
    expected = (
        "early stopping at step 40: accuracy has not improved by more than 1 in 2 evaluations "
        f"(best {results['best']:.4g} at step 0)"
    )
    assert stops == [expected]
    assert read_record(tmp_path)["early_stopped"] == {"step": 40, "patience": 2, "max_steps": 500}


def test_resuming_an_early_stopped_run_trains_only_with_more_patience_or_steps(tmp_path, caplog):
    overrides = [
        "evaluator.every_n_iter=20",
        "evaluator.min_delta=1",
        "evaluator.patience=1",
        "trainer.max_steps=500",
    ]
    train(compose_train(*overrides), run_dir=tmp_path)
    evaluated = len(jsonl(tmp_path / "evaluations.jsonl"))
    again = compose_train(*overrides, f"model_dir={tmp_path}")
    with caplog.at_level(logging.INFO):
        results = train(again, run_dir=tmp_path / "again")
    assert results["stopped_early"]
    assert len(jsonl(tmp_path / "evaluations.jsonl")) == evaluated
    assert any("this run stopped early at step 20" in r.message for r in caplog.records)
    more = compose_train(*overrides[:-2], "evaluator.patience=3", "trainer.max_steps=500")
    more.model_dir = str(tmp_path)
    results = train(more, run_dir=tmp_path / "more")
    steps = [e["step"] for e in jsonl(tmp_path / "evaluations.jsonl")]
    # 20 is not evaluated again; the count of 1 carries over: 40 and 60 make 3.
    assert steps == [0, 20, 40, 60]
    assert results["stopped_early"]


def test_mode_min_on_loss(tmp_path):
    cfg = compose_train(
        "trainer.max_steps=100", "evaluator.every_n_iter=25", "evaluator.monitor=loss"
    )
    results = train(cfg, run_dir=tmp_path)
    losses = [e["loss"] for e in jsonl(tmp_path / "evaluations.jsonl")]
    assert results["mode"] == "min"  # mode=auto: a loss shrinks
    assert results["best"] == min(losses)


def test_unknown_monitor_fails_before_any_checkpoint(tmp_path):
    cfg = compose_train("trainer.max_steps=50", "evaluator.monitor=f1_score")
    with pytest.raises(UnknownMonitorError) as raised:
        train(cfg, run_dir=tmp_path)
    assert "evaluator.monitor='f1_score'" in str(raised.value)
    assert "accuracy" in str(raised.value) and "average_loss" in str(raised.value)
    assert not checkpoints(tmp_path) and not (tmp_path / "best").exists()


TRAINING = [
    "evaluator.every_n_iter=2",
    "evaluator.keep_best=3",
    "evaluator.monitor=loss",
    "model.hidden_units=[1024,1024]",  # a checkpoint of a few MB: a write lasts long enough
    "trainer.export=none",
]


def start_training(run_dir):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            f"{PACKAGE}.train",
            f"hydra.run.dir={run_dir}",
            "trainer.max_steps=100000",
            "trainer.save_checkpoints_steps=30",
            *TRAINING,
        ],
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def kill_when(process, moment, timeout=180) -> bool:
    """SIGKILL the training process group once `moment()` holds; True if it held."""
    deadline = time.monotonic() + timeout
    held = False
    while time.monotonic() < deadline and process.poll() is None:
        if moment():
            held = True
            break
        time.sleep(0.0005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return held


def writing(best, after_evaluations, jsonl_path):
    """A checkpoint or best.json is being written (its temporary file exists)."""

    def moment():
        if not best.is_dir():
            return False
        if after_evaluations and (
            not jsonl_path.exists() or len(jsonl_path.read_text().splitlines()) < after_evaluations
        ):
            return False
        return any("tempstate" in n or n.startswith(".best-") for n in os.listdir(best))

    return moment


def evaluated(jsonl_path, n):
    return lambda: jsonl_path.exists() and len(jsonl_path.read_text().splitlines()) >= n


def assert_best_is_consistent(run_dir):
    """best.json (if any) lists only complete checkpoints; the best holds its step's weights."""
    record = read_record(run_dir)
    if record is None:  # killed before the first record was written: no best yet
        return None
    best = Path(run_dir) / "best"
    for kept in record["kept"]:
        assert (best / f"{kept['checkpoint']}.index").is_file(), kept
        assert list(best.glob(f"{kept['checkpoint']}.data-*")), kept
    [entry] = [k for k in record["kept"] if k["step"] == record["step"]]
    reader = tf.train.load_checkpoint(str(best / entry["checkpoint"]))
    assert reader.get_tensor("global_step") == record["step"]
    return record


@pytest.mark.slow  # kill -9 of real training processes
@pytest.mark.parametrize("moment", ["during the first write", "during a later write", "between"])
def test_kill_9_leaves_best_consistent_and_resume_continues(tmp_path, moment):
    jsonl_path, best = tmp_path / "evaluations.jsonl", tmp_path / "best"
    process = start_training(tmp_path)
    condition = {
        "during the first write": writing(best, 0, jsonl_path),
        "during a later write": writing(best, 6, jsonl_path),
        "between": evaluated(jsonl_path, 9),
    }[moment]
    assert kill_when(process, condition), f"training ended before {moment}"
    before = assert_best_is_consistent(tmp_path)
    latest = tf.train.latest_checkpoint(str(tmp_path))
    step = int(latest.rsplit("-", 1)[1]) if latest else 0
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            f"{PACKAGE}.train",
            f"hydra.run.dir={tmp_path / 'resume'}",
            f"model_dir={tmp_path}",
            f"trainer.max_steps={step + 20}",
            *TRAINING,
        ],
        env=subprocess_env(),
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = assert_best_is_consistent(tmp_path)
    if before is not None:
        assert after["value"] <= before["value"]  # a loss: never worse than before the kill
    assert not [n for n in os.listdir(best) if "tempstate" in n or n.startswith(".best-")]
    evaluated_steps = [e["step"] for e in jsonl(jsonl_path)]
    assert evaluated_steps[-1] == step + 20
    assert all(s % 2 == 0 for s in evaluated_steps)  # the schedule continues on its multiples
