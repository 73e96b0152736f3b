"""A real parameter-server cluster on this machine, through the launcher.

`python -m {{ cookiecutter.package_name }}.cluster` starts chief, worker, ps and evaluator
processes (TensorFlow's own gRPC runtime, evaluator=checkpoint). These tests check what it
trains, that the evaluator evaluates the final checkpoint, and that no task outlives the
launcher: after success, after a task dies, and after Ctrl-C. Linux only (reads /proc).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import PACKAGE, compose_train

from {{ cookiecutter.package_name }}.train import train

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
# Short and fast: checkpoints every 200 steps, the evaluator looks every second.
FAST = ["trainer.save_checkpoints_steps=200", "evaluator.throttle_secs=1"]
STOP_WITHIN_SECS = 30


class Launch:
    """The launcher in a real process; its output collected line by line as it comes."""

    def __init__(self, run_dir: Path, *args: str):
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"{PACKAGE}.cluster", *args, f"model_dir={run_dir}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.tasks: set[int] = set()  # every process the launcher started
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self.tasks |= descendants(self.process.pid)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in self.lines):
            assert self.process.poll() is None, f"launcher ended early:\n{self.output}"
            assert time.monotonic() < deadline, f"no line like {pattern!r}:\n{self.output}"
            time.sleep(0.1)
        self.tasks |= descendants(self.process.pid)

    def wait(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:  # the test failed: leave nothing behind either
                for pid in self.tasks:
                    _kill(pid)
                self.process.kill()
        self._reader.join(timeout=10)
        return code

    def task_pid(self, task_type: str) -> int:
        """The pid of the (first) task of `task_type`, from its TF_CONFIG."""
        for pid in sorted(descendants(self.process.pid)):
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            for entry in environ:
                name, _, value = entry.partition(b"=")
                if name == b"TF_CONFIG" and json.loads(value)["task"]["type"] == task_type:
                    return pid
        raise AssertionError(f"no {task_type} task among the launcher's children")


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (from /proc's parent links)."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of `pids` that still run (zombies waiting for a parent do not count)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_cluster_trains_as_well_as_one_process_and_evaluates_the_last_checkpoint(tmp_path):
    max_steps = 800
    overrides = [f"trainer.max_steps={max_steps}", *FAST]
    alone = train(
        compose_train("evaluator=checkpoint", *overrides), run_dir=tmp_path / "one-process"
    )
    assert alone["metrics"]["global_step"] >= max_steps

    run_dir = tmp_path / "cluster"
    launch = Launch(run_dir, "--workers", "1", "--ps", "1", *overrides)
    code = launch.wait(timeout=300)
    assert code == 0, launch.output
    for task in ("chief:0", "worker:0", "ps:0", "evaluator:0"):
        assert f"[{task}] " in launch.output
    # Both training tasks trained (each on its own half of the data).
    ran = dict(re.findall(r"(\w+:\d+) ran (\d+) training steps", launch.output))
    assert int(ran["chief:0"]) > 0 and int(ran["worker:0"]) > 0, ran
    # The evaluator evaluated the final checkpoint, and that is what the run reports.
    evaluations = [json.loads(line) for line in (run_dir / "evaluations.jsonl").open()]
    final = evaluations[-1]
    assert final["step"] >= max_steps
    assert re.search(rf"\[evaluator:0\] .*eval step {final['step']}: accuracy=", launch.output)
    assert abs(final["accuracy"] - alone["metrics"]["accuracy"]) <= 0.02, (final, alone)
    assert list((run_dir / "eval").glob("events.out.tfevents.*"))
    best = json.loads((run_dir / "best" / "best.json").read_text())
    assert best["value"] == max(e["accuracy"] for e in evaluations)
    (export,) = best["exports"]
    assert (run_dir / export / "saved_model.pb").is_file()
    assert launch.tasks and not alive(launch.tasks)


def test_a_task_that_dies_fails_the_run_fast_and_stops_the_others(tmp_path):
    launch = Launch(tmp_path, "--workers", "1", "--ps", "1", "trainer.max_steps=1000000", *FAST)
    launch.wait_for_line(r"\[worker:0\] .*(waiting for the chief|train_and_evaluate as)")
    os.kill(launch.task_pid("worker"), signal.SIGKILL)
    killed_at = time.monotonic()
    code = launch.wait(timeout=STOP_WITHIN_SECS)
    assert time.monotonic() - killed_at < STOP_WITHIN_SECS
    assert code != 0
    assert "task worker:0 exited with signal SIGKILL" in launch.output
    assert launch.tasks and not alive(launch.tasks)


def test_ctrl_c_stops_every_task(tmp_path):
    launch = Launch(tmp_path, "--workers", "0", "--ps", "0", "trainer.max_steps=1000000", *FAST)
    launch.wait_for_line(r"\[chief:0\] .*train_and_evaluate as chief")
    launch.process.send_signal(signal.SIGINT)
    code = launch.wait(timeout=STOP_WITHIN_SECS)
    assert code == 130, launch.output
    assert "interrupted: stopped every task" in launch.output
    assert launch.tasks and not alive(launch.tasks)


def test_a_bad_override_stops_the_launcher_before_any_task_starts(tmp_path):
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            f"{PACKAGE}.cluster",
            "trainer.max_steps=-1",
            f"model_dir={run_dir}",
        ],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "trainer.max_steps must be a positive integer" in result.stderr
    assert "[chief:0]" not in result.stdout and not run_dir.exists()
