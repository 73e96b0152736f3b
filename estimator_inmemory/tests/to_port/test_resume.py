"""Nothing lost: one folder per run, and resumes that continue a run or touch nothing."""

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import PACKAGE, checkpoints, compose_train, jsonl, run_entry_point, write_iris_csv

from {{ cookiecutter.package_name }}.config import claim_run_dir
from {{ cookiecutter.package_name }}.errors import ConfigError
from {{ cookiecutter.package_name }}.inmemory import ResumeMismatchError
from {{ cookiecutter.package_name }}.train import train


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


@pytest.mark.parametrize(
    "change, differences",
    [
        (
            ["model.hidden_units=[16]"],
            "dnn/hiddenlayer_0/kernel is float32[64, 32] in the checkpoint but (float32[64, 16])",
        ),
        (["model=custom"], "hidden_0/kernel (float32[64, 64]) is not in the checkpoint"),
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


def test_resume_takes_model_and_data_from_the_runs_stored_config(dnn_run, tmp_path, caplog):
    import logging

    # hidden_units=[32] is only in the stored config: the defaults ([64, 32]) would not fit.
    with caplog.at_level(logging.INFO):
        results = resume(dnn_run, tmp_path / "ok", "evaluator.every_n_iter=20")
    assert results["metrics"]["global_step"] == 60
    records = jsonl(dnn_run / "evaluations.jsonl")
    assert [r["step"] for r in records] == [0, 20, 40, 60]  # 40 is not evaluated twice
    assert "eval step 60" in (dnn_run / "train.log").read_text()  # the run's own log
    assert not checkpoints(tmp_path)


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


def test_a_fresh_run_refuses_a_folder_that_holds_a_run(dnn_run):
    before = fingerprint(dnn_run)
    with pytest.raises(ConfigError, match="already holds a run: resume it with model_dir="):
        train(compose_train("trainer.max_steps=10"), run_dir=dnn_run)
    assert fingerprint(dnn_run) == before


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
        subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], outputs
    folders = sorted(p.parent for p in (tmp_path / "outputs").glob("*/*/checkpoint"))
    assert len(folders) == 2
    for folder in folders:
        assert [r["step"] for r in jsonl(folder / "evaluations.jsonl")] == [0, 1, 2]
