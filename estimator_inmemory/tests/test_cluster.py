"""A real parameter-server cluster on this machine, through the fixture project's launcher.

`project.cluster` (a generated project's `<slug>-cluster`) starts chief, worker, ps and
evaluator processes, each the unchanged task command `python -m fixture_project.train
evaluator=checkpoint ...` with the TF_CONFIG Kubeflow's operator writes for a TFJob. These
tests check what it trains, that the evaluator evaluates the final checkpoint, that every
task ends by itself (the ps tasks too), and that no task outlives the launcher: after
success, after a task dies, and after Ctrl-C. Linux only (reads /proc).
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

from helpers import compose_train, subprocess_env, train

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
# Short and fast: checkpoints every 200 steps, the evaluator looks every second.
FAST = ["trainer.save_checkpoints_steps=200", "evaluator.throttle_secs=1"]
STOP_WITHIN_SECS = 30
LAUNCHER = "import sys; from fixture_project.train import cluster; sys.exit(cluster(sys.argv[1:]))"


class Launch:
    """The launcher in a real process; its output collected line by line as it comes."""

    def __init__(self, *args: str):
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=subprocess_env(),
        )
        self.lines: list[str] = []
        self.tasks: set[int] = set()  # every process the launcher started
        self.tf_configs: dict[str, dict] = {}  # task name -> the TF_CONFIG it was given
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._look()

    def _look(self) -> None:
        found = descendants(self.process.pid)
        self.tasks |= found
        for pid in found:
            config = tf_config_of(pid)
            if config:
                task = config["task"]
                self.tf_configs[f"{task['type']}:{task['index']}"] = config

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while not any(re.search(pattern, line) for line in self.lines):
            assert self.process.poll() is None, f"launcher ended early:\n{self.output}"
            assert time.monotonic() < deadline, f"no line like {pattern!r}:\n{self.output}"
            time.sleep(0.1)
        self._look()

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

    def task_pid(self, name: str) -> int:
        for pid in sorted(descendants(self.process.pid)):
            config = tf_config_of(pid)
            if config and f"{config['task']['type']}:{config['task']['index']}" == name:
                return pid
        raise AssertionError(f"no {name} task among the launcher's children")


def tf_config_of(pid: int) -> dict | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for entry in environ:
        name, _, value = entry.partition(b"=")
        if name == b"TF_CONFIG":
            return json.loads(value)
    return None


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


@pytest.mark.slow
def test_a_tfjob_shaped_cluster_trains_evaluates_the_last_checkpoint_and_ends_by_itself(
    tmp_path,
):
    max_steps = 800
    overrides = [f"trainer.max_steps={max_steps}", *FAST]
    alone = train(compose_train("evaluator=checkpoint", *overrides), tmp_path / "one-process")
    assert alone["metrics"]["global_step"] >= max_steps

    run_dir = tmp_path / "cluster"  # hydra.run.dir picks the run folder, as for the entry point
    launch = Launch("--workers", "1", "--ps", "1", *overrides, f"hydra.run.dir={run_dir}")
    code = launch.wait(timeout=600)
    assert code == 0, launch.output
    # Every task was given TF_CONFIG as Kubeflow's operator writes it for a TFJob.
    assert set(launch.tf_configs) == {"chief:0", "worker:0", "ps:0", "evaluator:0"}
    for config in launch.tf_configs.values():
        assert set(config["cluster"]) == {"chief", "worker", "ps", "evaluator"}
        assert config["environment"] == "cloud"
    # Each task logs its real role; only the training tasks read training data.
    assert "[chief:0] " in launch.output and "part 1 of 2 of the training data" in launch.output
    assert re.search(r"\[worker:0\] .*as worker:0 \(trains on part 2 of 2", launch.output)
    assert re.search(r"\[ps:0\] .*as ps:0 \(holds variables; reads no data\)", launch.output)
    assert re.search(r"\[evaluator:0\] .*as evaluator:0 \(evaluates", launch.output)
    assert not re.search(r"\[(ps|evaluator):0\] .*training data part", launch.output)
    ran = dict(re.findall(r"(\w+:\d+) ran (\d+) training steps", launch.output))
    assert int(ran["chief:0"]) > 0 and int(ran["worker:0"]) > 0, ran
    # The evaluator evaluated the final checkpoint and exported; that is what the run reports.
    evaluations = [json.loads(line) for line in (run_dir / "evaluations.jsonl").open()]
    final = evaluations[-1]
    assert final["step"] >= max_steps
    assert re.search(rf"\[evaluator:0\] .*eval step {final['step']}: accuracy=", launch.output)
    assert abs(final["accuracy"] - alone["metrics"]["accuracy"]) <= 0.03, (final, alone)
    assert list((run_dir / "eval").glob("events.out.tfevents.*"))
    best = json.loads((run_dir / "best" / "best.json").read_text())
    assert best["value"] == max(e["accuracy"] for e in evaluations)
    (kept,) = best["kept"]
    assert (run_dir / kept["export"] / "saved_model.pb").is_file()
    result = json.loads((run_dir / "tasks" / "evaluator" / "result.json").read_text())
    assert result["global_step"] == final["step"] and result["metrics"]["accuracy"] > 0.5
    # Every task ended by itself: the ps task read in model_dir that the run was over.
    assert re.search(r"\[ps:0\] .*are done: this ps task exits", launch.output)
    assert "[cluster] every task finished" in launch.output
    assert "stopping them" not in launch.output
    # The chief ended only after the evaluator's final evaluation (a TFJob's success).
    line = {
        what: next(i for i, text in enumerate(launch.lines) if re.search(pattern, text))
        for what, pattern in (
            ("final evaluation", rf"\[evaluator:0\] .*eval step {final['step']}:"),
            ("chief waited", r"\[chief:0\] .*the evaluator's final evaluation is done"),
        )
    }
    assert line["final evaluation"] < line["chief waited"]
    assert launch.tasks and not alive(launch.tasks)


@pytest.mark.slow
def test_a_task_that_dies_fails_the_run_fast_and_stops_the_others(tmp_path):
    launch = Launch(
        "--workers", "1", "--ps", "1", "trainer.max_steps=1000000", *FAST, f"model_dir={tmp_path}"
    )
    launch.wait_for_line(r"\[worker:0\] .*(waiting for the chief|train_and_evaluate as)")
    os.kill(launch.task_pid("worker:0"), signal.SIGKILL)
    killed_at = time.monotonic()
    code = launch.wait(timeout=STOP_WITHIN_SECS)
    assert time.monotonic() - killed_at < STOP_WITHIN_SECS
    assert code != 0
    assert "task worker:0 exited with signal SIGKILL" in launch.output
    assert launch.tasks and not alive(launch.tasks)


@pytest.mark.slow
def test_ctrl_c_stops_every_task(tmp_path):
    launch = Launch(
        "--workers", "0", "--ps", "0", "trainer.max_steps=1000000", *FAST, f"model_dir={tmp_path}"
    )
    launch.wait_for_line(r"\[chief:0\] .*train_and_evaluate as chief")
    launch.process.send_signal(signal.SIGINT)
    code = launch.wait(timeout=STOP_WITHIN_SECS)
    assert code == 130, launch.output
    assert "interrupted: stopped every task" in launch.output
    assert launch.tasks and not alive(launch.tasks)


@pytest.mark.parametrize(
    "override, message",
    [
        ("trainer.max_steps=-1", "trainer.max_steps must be a positive integer"),
        ("+data.path=x", "data.path is not read by anything"),
    ],
)
def test_a_bad_override_stops_the_launcher_before_any_task_starts(tmp_path, override, message):
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, override, f"hydra.run.dir={run_dir}"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=subprocess_env(),
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "[chief:0]" not in result.stdout and not run_dir.exists()
