"""Nothing lost: one folder per run, and resumes that continue a run or touch nothing."""

import contextlib
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from estimator_inmemory.best import read_record
from estimator_inmemory.errors import ConfigError, ResumeMismatchError
from estimator_inmemory.plots import draw_learning_curves
from estimator_inmemory.runs import claim_run_dir
from helpers import (
    PACKAGE,
    checkpoints,
    compose_train,
    jsonl,
    run_entry_point,
    subprocess_env,
    train,
    write_iris_csv,
)


def fingerprint(folder) -> dict:
    """Every file under folder -> sha256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def dnn_run(tmp_path_factory):
    """A real run of the entry point (so it has its .hydra/ record): dnn, 10 classes."""
    run_dir = tmp_path_factory.mktemp("dnn_run")
    run_entry_point(
        f"hydra.run.dir={run_dir}",
        "trainer.max_steps=40",
        "evaluator.every_n_iter=20",
        "model.hidden_units=[32]",
        "trainer.export=best",
    )
    return run_dir


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    return write_iris_csv(tmp_path_factory.mktemp("iris"))


def resume(run_dir, tmp_path, *overrides):
    """train(cfg) as the entry point calls it for `model_dir=run_dir overrides...`."""
    overrides = [f"model_dir={run_dir}", "trainer.max_steps=60", *overrides]
    return train(compose_train(*overrides), run_dir=tmp_path, overrides=overrides)


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
@pytest.mark.parametrize(
    "change, differences",
    [
        (
            ["model.hidden_units=[16]"],
            "dnn/hiddenlayer_0/kernel is float32[64, 32] in the checkpoint but (float32[64, 16])",
        ),
        (["model=mlp"], "h0/kernel (float32[64, 32]) is not in the checkpoint"),
        ("iris", "dnn/logits/bias is float32[10] in the checkpoint but (float32[3])"),
    ],
    ids=["hidden_units", "model_option", "n_classes"],
)
def test_a_resume_that_does_not_fit_the_checkpoint_touches_nothing(
    dnn_run, iris_csv, tmp_path, change, differences
):
    if change == "iris":
        change = ["data=csv", f"data.train_path={iris_csv[0]}", f"data.eval_path={iris_csv[1]}"]
    before = fingerprint(dnn_run)
    with pytest.raises(ResumeMismatchError) as raised:
        resume(dnn_run, tmp_path, *change)
    message = str(raised.value)
    assert differences in message
    assert (
        "Resume with the run's own config" in message and "Nothing was read or written" in message
    )
    assert fingerprint(dnn_run) == before


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_the_entry_point_refuses_a_bad_resume_with_one_line_and_exit_2(dnn_run, tmp_path):
    before = fingerprint(dnn_run)
    result = run_entry_point(
        f"hydra.run.dir={tmp_path / 'attempt'}",
        f"model_dir={dnn_run}",
        "trainer.max_steps=60",
        "model.hidden_units=[16]",
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: cannot resume from ")
    assert "Traceback" not in result.stderr
    assert fingerprint(dnn_run) == before
    assert not (tmp_path / "attempt").exists()  # the refused attempt left no folder behind


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_resume_takes_model_and_data_from_the_runs_stored_config(dnn_run, tmp_path, caplog):
    import logging

    # hidden_units=[32] is only in the stored config: the defaults ([32, 16]) would not fit.
    with caplog.at_level(logging.INFO):
        results = resume(dnn_run, tmp_path / "ok", "evaluator.every_n_iter=20")
    assert results["metrics"]["global_step"] == 60
    records = jsonl(dnn_run / "evaluations.jsonl")
    assert [r["step"] for r in records] == [0, 20, 40, 60]  # 40 is not evaluated twice
    assert "eval step 60" in (dnn_run / "train.log").read_text()  # the run's own log
    assert not checkpoints(tmp_path)


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_resume_at_max_steps_says_so_and_exports_nothing_again(dnn_run, tmp_path, caplog):
    import logging

    before = fingerprint(dnn_run)
    with caplog.at_level(logging.INFO):
        resume(dnn_run, tmp_path, "trainer.max_steps=20")
    assert any("nothing to train (raise trainer.max_steps" in r.message for r in caplog.records)
    after = fingerprint(dnn_run)
    assert "nothing to train" in (dnn_run / "train.log").read_text()  # said in the run's log
    del before["train.log"], after["train.log"]
    assert after == before  # no new export, checkpoint, evaluation or best


def test_an_integer_learning_rate_and_a_float_one_fit_the_same_checkpoint(tmp_path):
    # learning_rate=1 once made the optimizer's variable an int32: resuming with 0.5 was
    # refused as a checkpoint of another model.
    first = ["trainer.max_steps=20", "evaluator.every_n_iter=10", "trainer.export=none"]
    train(compose_train("trainer.learning_rate=1", *first), run_dir=tmp_path / "run")
    overrides = [f"model_dir={tmp_path / 'run'}", "trainer.learning_rate=0.5"]
    results = train(
        compose_train(*overrides, "trainer.max_steps=40", "trainer.export=none"),
        run_dir=tmp_path / "resumed",
        overrides=overrides,
    )
    assert results["metrics"]["global_step"] == 40


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_a_fresh_run_refuses_a_folder_that_holds_a_run(dnn_run):
    before = fingerprint(dnn_run)
    with pytest.raises(ConfigError, match="already holds a run: resume it with model_dir="):
        train(compose_train("trainer.max_steps=10"), run_dir=dnn_run)
    assert fingerprint(dnn_run) == before


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_hydra_run_dir_on_an_earlier_run_keeps_its_record(dnn_run):
    before = fingerprint(dnn_run)
    result = run_entry_point(f"hydra.run.dir={dnn_run}", "trainer.max_steps=10", check=False)
    assert result.returncode == 2 and "already holds a run" in result.stderr
    assert fingerprint(dnn_run) == {
        name: digest for name, digest in fingerprint(dnn_run).items() if name in before
    }
    assert {k: v for k, v in fingerprint(dnn_run).items() if k in before} == before
    assert not [p for p in (dnn_run / ".hydra").iterdir() if p.is_dir()]  # attempt removed


def test_run_folders_are_claimed_once_each(tmp_path):
    root = tmp_path / "outputs"
    claimed = [claim_run_dir(str(root), "fixed") for _ in range(3)]
    assert claimed == [str(root / "fixed"), str(root / "fixed-2"), str(root / "fixed-3")]


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_two_runs_started_together_get_two_folders(tmp_path):
    command = [
        sys.executable,
        "-m",
        f"{PACKAGE}.train",
        "trainer.max_steps=2",
        "evaluator.every_n_iter=1",
        "trainer.export=none",
    ]
    processes = [
        subprocess.Popen(
            command,
            cwd=tmp_path,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    folders = sorted(p.parent for p in (tmp_path / "outputs").glob("*/*/checkpoint"))
    assert len(folders) == 2
    for folder in folders:
        assert [r["step"] for r in jsonl(folder / "evaluations.jsonl")] == [0, 1, 2]


# A resume continues one history: what a killed run evaluated past its last checkpoint is
# moved aside, and the record, best.json and TensorBoard go on from the checkpoint.


class Crash(Exception):
    """The training process dies (here: an exception in the training loop, so Estimator
    writes no final checkpoint, as after kill -9)."""


def crash_after_evaluating(monkeypatch, step):
    from estimator_inmemory.progress import ProgressHook

    shown = ProgressHook.on_evaluation

    def on_evaluation(self, evaluation):  # the last evaluation callback: all is recorded
        shown(self, evaluation)
        if evaluation.step >= step:
            raise Crash(f"died after evaluating step {step}")

    monkeypatch.setattr(ProgressHook, "on_evaluation", on_evaluation)


def tensorboard_scalars(folder, tag="accuracy") -> list[tuple[int, float]]:
    """(step, value) of a tag as TensorBoard's own reader loads the folder."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_a_resume_after_a_crash_continues_one_history(tmp_path, monkeypatch):
    # min_delta=1: only the first evaluation improves, so patience counts every later one.
    # Checkpoints at 0 and 100; the crash comes after evaluating 120, 140 and 160.
    run = [
        "evaluator.every_n_iter=20",
        "evaluator.min_delta=1",
        "evaluator.patience=9",
        "trainer.save_checkpoints_steps=100",
        "trainer.export=none",
    ]
    first = tmp_path / "run"
    with monkeypatch.context() as patched:
        crash_after_evaluating(patched, 160)
        with pytest.raises(Crash):
            train(compose_train(*run, "trainer.max_steps=1000"), run_dir=first)
    assert tf_latest_step(first) == 100
    lost = [r for r in jsonl(first / "evaluations.jsonl") if r["step"] > 100]
    assert [r["step"] for r in lost] == [120, 140, 160]
    assert read_record(first)["evaluations_without_improvement"] == 8

    results = train(
        compose_train(*run, "trainer.max_steps=1000", f"model_dir={first}"),
        run_dir=tmp_path / "resumed",
    )
    # Surviving count 5 (20..100): 120, 140, 160, 180 make 9. Counting the lost three, the
    # run stopped at 120.
    assert results["stopped_early"]
    assert read_record(first)["early_stopped"]["step"] == 180
    records = jsonl(first / "evaluations.jsonl")
    assert [r["step"] for r in records] == list(range(0, 200, 20))
    aside = jsonl(first / "evaluations.superseded.jsonl")
    assert aside == [{**r, "resumed_from": 100} for r in lost]  # moved, not deleted
    # TensorBoard shows the surviving trajectory: the new 120..180, not the lost ones.
    shown = tensorboard_scalars(first / "eval")
    assert [step for step, _ in shown] == [r["step"] for r in records]
    assert [value for _, value in shown] == pytest.approx([r["accuracy"] for r in records])
    assert [(r["step"], r["accuracy"]) for r in records[6:9]] != [
        (r["step"], r["accuracy"]) for r in lost
    ]  # other weights: another history, which the record no longer mixes in


def test_a_resume_within_the_second_of_the_last_summaries_keeps_them(tmp_path):
    # TensorFlow names an event file after the second its writer opens it, and a writer
    # opening a file of the same name truncates it: a resume in that second (the crash test
    # above, when quick) lost the eval history before it. It now starts a second later.
    import tensorflow as tf

    from estimator_inmemory.training import _after_the_last_writers_second

    eval_dir = str(tmp_path / "eval")
    accuracy = tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(tag="a", simple_value=1)])
    with tf.Graph().as_default():
        first = tf.compat.v1.summary.FileWriter(eval_dir)
        first.add_summary(accuracy, 7)
        first.close()
        (written,) = Path(eval_dir).iterdir()
        _after_the_last_writers_second(str(tmp_path))
        resumed = tf.compat.v1.summary.FileWriter(eval_dir)  # the resumed run's writer
        resumed.add_summary(accuracy, 8)
        resumed.close()
    steps = [e.step for e in tf.compat.v1.train.summary_iterator(str(written)) if e.summary.value]
    assert steps == [7]
    assert len(list(Path(eval_dir).iterdir())) == 2


def tf_latest_step(model_dir) -> int:
    import tensorflow as tf

    return int(tf.train.latest_checkpoint(str(model_dir)).rsplit("-", 1)[1])


@pytest.mark.slow  # kill -9 of a real training process
def test_kill_9_after_evaluations_past_the_last_checkpoint_then_resume(tmp_path):
    import os
    import signal
    import time

    run = ["evaluator.every_n_iter=20", "trainer.save_checkpoints_steps=1000"]
    records_path = tmp_path / "evaluations.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", f"{PACKAGE}.train", f"hydra.run.dir={tmp_path}", *run]
        + ["trainer.max_steps=100000"],
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:  # killed once it evaluated well past its checkpoint of 1000, long before 2000
        while not (records_path.exists() and jsonl_steps(records_path)[-1:] >= [1300]):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert tf_latest_step(tmp_path) == 1000
    lost = [r for r in jsonl(records_path) if r["step"] > 1000]
    assert len(lost) >= 15

    resumed = run_entry_point(
        f"hydra.run.dir={tmp_path / 'resume'}", f"model_dir={tmp_path}", *run,
        "trainer.max_steps=1400",
    )  # fmt: skip
    records = jsonl(records_path)
    assert [r["step"] for r in records] == list(range(0, 1420, 20))  # each step once
    aside = jsonl(tmp_path / "evaluations.superseded.jsonl")
    assert aside == [{**r, "resumed_from": 1000} for r in lost]
    shown = tensorboard_scalars(tmp_path / "eval")
    assert [step for step, _ in shown] == [r["step"] for r in records]
    assert [value for _, value in shown] == pytest.approx([r["accuracy"] for r in records])
    # The picture draws the record: one curve, no step twice.
    curves = draw_learning_curves(tmp_path, "accuracy")
    [eval_line] = [line for line in curves.axes[0].lines if line.get_label() == "eval"]
    assert list(eval_line.get_xdata()) == [r["step"] for r in records]
    assert "were moved to" in resumed.stdout + resumed.stderr  # said in the log


def jsonl_steps(path) -> list[int]:
    """The steps of the complete lines of a JSON-lines file being written."""
    steps = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            steps.append(json.loads(line)["step"])
    return steps
