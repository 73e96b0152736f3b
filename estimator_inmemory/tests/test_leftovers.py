"""Nothing outlives a run, a refused run, a killed task or a passing test session: no
TensorFlow autograph files, no TensorBoard info files, no empty run folders, no test runs."""

import getpass
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import PACKAGE, TESTS, subprocess_env

TRAIN = [sys.executable, "-m", f"{PACKAGE}.train"]


def left_in(folder: Path, wait: float = 10.0) -> list[str]:
    """What is in `folder` once the cleanup after a process has had `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            left = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
        except FileNotFoundError:  # a folder removed while it was listed: look again
            left = ["(being removed)"]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


@pytest.mark.slow  # kill -9 of a real training process
def test_a_killed_run_leaves_no_temporary_files(tmp_path):
    # model=mlp: Keras layers, which autograph converts into __autograph_generated_file*.py
    # in the temp folder; TensorFlow removes them only at a normal exit.
    temp, run = tmp_path / "tmp", tmp_path / "run"
    temp.mkdir()
    process = subprocess.Popen(
        [*TRAIN, "model=mlp", "trainer.max_steps=100000", f"hydra.run.dir={run}"],
        env=subprocess_env({**os.environ, "TMPDIR": str(temp)}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    try:
        while not (run / "evaluations.jsonl").exists():  # training, the graph built
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        written = [p.name for p in temp.rglob("__autograph_generated_file*")]
        assert written, "the run wrote no autograph file: the test shows nothing"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert left_in(temp) == []


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_a_finished_run_leaves_nothing_in_the_temp_folder(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    overrides = ["model=mlp", "trainer.max_steps=20", f"hydra.run.dir={tmp_path / 'run'}"]
    result = subprocess.run(
        [*TRAIN, *overrides],
        env=subprocess_env({**os.environ, "TMPDIR": str(temp)}),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "run" / "learning_curves.png").is_file()
    assert left_in(temp) == []


def test_a_refused_run_leaves_no_folders(tmp_path):
    # Run folders are claimed as outputs/<date>/<time>; a refusal removes what it claimed.
    for refused in ("trainer.batch_size=0", "+data.path=x", "data=csv"):
        result = subprocess.run(
            [*TRAIN, refused],
            cwd=tmp_path,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 2 and result.stderr.startswith("error: "), result.stderr
        assert sorted(p.name for p in tmp_path.iterdir()) == [], refused
    (tmp_path / "outputs" / "mine").mkdir(parents=True)  # a folder that was there stays
    subprocess.run([*TRAIN, "trainer.batch_size=0"], cwd=tmp_path, env=subprocess_env(),
                   capture_output=True, timeout=300, check=False)  # fmt: skip
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == ["mine"]


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_a_passing_test_session_leaves_nothing_in_the_temp_folder(tmp_path):
    # A session that trains in its own process (TensorFlow, a run folder in tmp_path).
    temp = tmp_path / "tmp"
    temp.mkdir()
    tests = ["test_inputs.py::test_every_key_the_configs_declare_is_taken"]
    env = {**os.environ, "TMPDIR": str(temp)}
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_DEBUG_TEMPROOT", None)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
        cwd=TESTS,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "1 passed" in result.stdout
    # pytest keeps its per-user folder (pytest-of-<user>), emptied.
    assert [p for p in left_in(temp) if not p.startswith("pytest-of-")] == []
    assert sum(p.stat().st_size for p in temp.rglob("*") if p.is_file()) == 0
    assert [p.name for p in temp.iterdir()] == [f"pytest-of-{getpass.getuser()}"]
