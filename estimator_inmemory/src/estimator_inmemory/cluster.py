"""A TensorFlow parameter-server cluster on this machine: chief, workers, ps and an evaluator.

    <slug>-cluster --workers 2 --ps 1 trainer.max_steps=5000     # a project's launcher

Every task is the project's training entry point (`python -m <package>.train
evaluator=checkpoint ...`) in a process of its own, with its own `TF_CONFIG`, on free
localhost ports, and all of them share one run folder as `model_dir`. Each output line is
printed with its task in front (`[worker:0] ...`). The launcher waits for the chief, the
workers and the evaluator, then stops the ps tasks (they never exit on their own); when a
task fails, or on Ctrl-C, it stops every task at once. No task outlives it.

This module also says what a cluster may look like for `evaluator=checkpoint`
(`check_cluster_config`, used by every task before TensorFlow starts) and which arguments each
task type runs with (`task_arguments`, which `k8s/tfjob.yaml` repeats: a test compares).
It does not import TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .errors import MalformedTFConfigError, UnsupportedClusterError
from .guards import parse_tf_config

TRAINING_JOBS = ("chief", "worker", "ps")  # the training cluster; the evaluator is not in it
# What a task prints when its gRPC port was taken between picking and binding it.
PORT_TAKEN = re.compile(r"Could not start gRPC server|Address already in use")
STOP_GRACE_SECS = 5  # SIGTERM, then SIGKILL after this long


# What a cluster may look like (no TensorFlow needed).


@dataclass(frozen=True)
class ClusterTask:
    """This process's place in the cluster TF_CONFIG describes (type None: no cluster)."""

    type: str | None = None
    index: int = 0
    training_tasks: int = 1  # chief + workers: the processes that read training data

    @property
    def shard(self) -> tuple[int, int]:
        """(number of parts, this task's part) of the training data: the chief reads part
        0 and worker i part i+1, so the training tasks together read each example once."""
        if self.type == "chief":
            return self.training_tasks, 0
        if self.type == "worker":
            return self.training_tasks, self.index + 1
        return 1, 0


def check_cluster_config(tf_config: str | None) -> ClusterTask:
    """The cluster evaluator=checkpoint can run: none, or one chief, workers, ps, one evaluator.

    Raises `UnsupportedClusterError` naming what is wrong and the fix.
    """
    try:
        cluster, task = parse_tf_config(tf_config)
    except MalformedTFConfigError as error:
        raise UnsupportedClusterError(str(error)) from None
    if not cluster:
        return ClusterTask()
    if "evaluator" in cluster:
        raise UnsupportedClusterError(
            "TF_CONFIG's 'cluster' lists an 'evaluator' job, but the evaluator is not part of "
            "the training cluster (the training tasks would wait for it, and strategies fail "
            "on it): remove 'evaluator' from 'cluster' and make the evaluator task "
            '{"type": "evaluator", "index": 0} with the same cluster'
        )
    unknown = sorted(set(cluster) - set(TRAINING_JOBS))
    if unknown:
        raise UnsupportedClusterError(
            f"TF_CONFIG's 'cluster' has job(s) {', '.join(unknown)}; evaluator=checkpoint runs "
            "a cluster of one 'chief', any 'worker' and 'ps' tasks (rename 'master' to 'chief')"
        )
    chiefs, workers, ps = (len(cluster.get(job, [])) for job in TRAINING_JOBS)
    if chiefs != 1:
        raise UnsupportedClusterError(
            f"TF_CONFIG's 'cluster' has {chiefs} 'chief' tasks; it needs exactly one (the task "
            "that initialises the variables and writes the checkpoints)"
        )
    if workers and not ps:
        raise UnsupportedClusterError(
            f"TF_CONFIG's 'cluster' has {workers} worker(s) but no 'ps' task: workers share "
            "the variables through parameter servers, so add at least one 'ps' task"
        )
    if not (isinstance(task, dict) and isinstance(task.get("type"), str)):
        raise UnsupportedClusterError(
            'TF_CONFIG needs this process\'s \'task\', e.g. {"type": "worker", "index": 0}, got '
            + repr(task)
        )
    task_type, index = task["type"], task.get("index", 0)
    if task_type == "evaluator":
        if index != 0:
            raise UnsupportedClusterError(
                f"TF_CONFIG's task is evaluator {index!r}; a cluster has one evaluator, index 0"
            )
    elif (
        task_type not in cluster
        or isinstance(index, bool)
        or not isinstance(index, int)
        or not 0 <= index < len(cluster[task_type])
    ):
        raise UnsupportedClusterError(
            f"TF_CONFIG's task (type {task_type!r}, index {index!r}) is not in its cluster "
            f"({chiefs} chief, {workers} worker, {ps} ps) nor the evaluator: fix the task"
        )
    return ClusterTask(task_type, index, training_tasks=chiefs + workers)


# The tasks and their arguments (shared with k8s/tfjob.yaml).


def task_arguments(task_type: str, model_dir: str) -> list[str]:
    """The Hydra overrides every task of `task_type` runs with, here and in k8s/tfjob.yaml.

    All tasks share `model_dir`; each task type keeps Hydra's own output (`.hydra/`, the
    log file) in `model_dir/tasks/<type>/`, so one run stays in one folder.
    """
    return [
        "evaluator=checkpoint",
        f"model_dir={model_dir}",
        f"hydra.run.dir={model_dir}/tasks/{task_type}",
    ]


@dataclass
class Task:
    type: str
    index: int
    process: subprocess.Popen | None = None
    port_taken: bool = False
    pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return f"{self.type}:{self.index}"


def cluster_tasks(workers: int, ps: int) -> list[Task]:
    """Chief, workers, ps and the evaluator, in the order they are started.

    Deliberately not the order they depend on each other (ps first): TensorFlow's tasks
    wait for each other, and starting the evaluator and workers first proves it.
    """
    return [
        Task("evaluator", 0),
        *(Task("worker", i) for i in range(workers)),
        Task("chief", 0),
        *(Task("ps", i) for i in range(ps)),
    ]


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (the OS picks; all held open at once, so all differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("localhost", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_configs(tasks: list[Task], ports: list[int]) -> dict[str, str]:
    """Each task's TF_CONFIG: the same training cluster (no evaluator in it), its own task."""
    training = [t for t in tasks if t.type in TRAINING_JOBS]
    cluster: dict[str, list[str]] = {}
    for job in TRAINING_JOBS:
        for t in training:
            if t.type == job:
                cluster.setdefault(job, []).append(f"localhost:{ports[training.index(t)]}")
    configs = {}
    for t in tasks:
        task = {"type": t.type, "index": t.index}
        configs[t.name] = json.dumps({"cluster": cluster, "task": task})
    return configs


# Running them.


class Launcher:
    """Starts the tasks, prints their output, and stops them all, whatever happens."""

    def __init__(
        self,
        workers: int,
        ps: int,
        overrides: list[str],
        run_dir: Path,
        *,
        entry_module: str,
        out=None,
    ):
        self.workers, self.ps = workers, ps
        self.entry_module = entry_module  # the project's training entry, run as each task
        self.overrides, self.run_dir = overrides, run_dir
        self.out = out or sys.stdout
        self._print_lock = threading.Lock()
        self.tasks: list[Task] = []

    def say(self, line: str) -> None:
        with self._print_lock:
            print(line, file=self.out, flush=True)

    def run(self, attempts: int = 3) -> int:
        """Run the cluster to the end; return the exit code (0: every task succeeded)."""
        for attempt in range(1, attempts + 1):
            code = self._run_once()
            if code is not None:
                return code
            self.say(f"[cluster] a port was taken (attempt {attempt}/{attempts}): new ports")
        self.say(f"[cluster] error: no free ports after {attempts} attempts")
        return 1

    def _run_once(self) -> int | None:
        """One start of the whole cluster; None when a port was taken (start again)."""
        self.tasks = cluster_tasks(self.workers, self.ps)
        n_training = sum(t.type in TRAINING_JOBS for t in self.tasks)
        configs = tf_configs(self.tasks, free_ports(n_training))
        try:
            for task in self.tasks:
                self._start(task, configs[task.name])
            for task in self.tasks:  # after all starts: no thread runs while we fork
                task.pump = threading.Thread(target=self._pump, args=(task,), daemon=True)
                task.pump.start()
            return self._watch()
        finally:
            self.stop_all()

    def _start(self, task: Task, tf_config: str) -> None:
        command = [
            sys.executable,
            "-m",
            self.entry_module,
            *task_arguments(task.type, str(self.run_dir)),
            *self.overrides,
        ]
        env = {**os.environ, "TF_CONFIG": tf_config, "PYTHONUNBUFFERED": "1"}
        task.process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            # Its own process group, so stopping a task stops everything it started, and
            # a terminal's Ctrl-C reaches only the launcher, which then stops them in order.
            start_new_session=True,
            # Safe here: no thread of ours runs while the tasks are started (see _run_once).
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )

    def _pump(self, task: Task) -> None:
        """Print a task's output as it comes (a full pipe would block the task)."""
        for line in task.process.stdout:
            if PORT_TAKEN.search(line):
                task.port_taken = True
            self.say(f"[{task.name}] {line.rstrip()}")

    def _watch(self) -> int | None:
        must_finish = [t for t in self.tasks if t.type != "ps"]
        while True:
            for task in self.tasks:
                code = task.process.poll()
                if code is None or (code == 0 and task.type != "ps"):
                    continue
                task.pump.join(timeout=5)  # its last lines (the error) first
                if task.port_taken:
                    return None
                self.say(
                    f"[cluster] error: task {task.name} exited with {_describe(code)}: "
                    "stopping the other tasks (its output is above, prefixed "
                    f"[{task.name}])"
                )
                return 1
            if all(t.process.poll() == 0 for t in must_finish):
                self.say("[cluster] chief, workers and evaluator finished: stopping the ps tasks")
                return 0
            time.sleep(0.2)

    def stop_all(self) -> None:
        """SIGTERM every running task's process group, SIGKILL what is left after a grace."""
        running = [t for t in self.tasks if t.process and t.process.poll() is None]
        for task in running:
            _signal_group(task.process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECS
        for task in running:
            try:
                task.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for task in self.tasks:
            if task.process:
                _signal_group(task.process, signal.SIGKILL)  # also leftovers in its group
                task.process.wait()
        for task in self.tasks:
            if task.pump:
                task.pump.join(timeout=5)


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _die_with_parent() -> None:
    """In the child, before exec: get SIGKILL if the launcher dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _describe(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def config_problem(overrides: list[str], config_dir: str) -> str | None:
    """What is wrong with the tasks' config (as the training entry checks it), or None."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from .config import settings
    from .errors import EstimatorInMemoryError

    # Hydra's own settings (hydra.*) are not part of the composed job config.
    job_overrides = [o for o in overrides if not o.lstrip("+~").startswith("hydra.")]
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir)):
            cfg = compose("train", overrides=["evaluator=checkpoint", *job_overrides])
        settings(cfg)
    except (HydraException, OmegaConfBaseException, EstimatorInMemoryError) as error:
        return " ".join(str(error).split())  # one line, all of it (hints included)
    return None


def main(argv: list[str] | None = None, *, entry_module: str, config_dir: str, prog: str) -> int:
    """The launcher's command line: `prog --workers N --ps M [hydra overrides...]`."""
    from .runs import claim_run_dir

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run chief, workers, ps and an evaluator (evaluator=checkpoint) as "
        "processes on this machine, all on one model_dir.",
    )
    parser.add_argument("--workers", type=int, default=1, help="worker tasks besides the chief")
    parser.add_argument("--ps", type=int, default=1, help="parameter-server tasks")
    parser.add_argument(
        "overrides",
        nargs="*",
        help="Hydra overrides for every task; model_dir=DIR picks the run folder "
        "(default: a new outputs/<date>/<time>)",
    )
    args = parser.parse_args(argv)
    if args.workers < 0 or args.ps < 0 or (args.workers and not args.ps):
        parser.error("--workers and --ps must be >= 0, and workers need at least one ps")
    run_dir, overrides = None, []
    for override in args.overrides:
        if override.startswith("model_dir="):
            run_dir = Path(override.split("=", 1)[1]).resolve()
        else:
            overrides.append(override)
    problem = config_problem(overrides, config_dir)
    if problem:  # before any task starts: every task would fail the same way
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if run_dir is None:  # claimed, as the entry point claims its own: never shared
        run_dir = Path(claim_run_dir("outputs")).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    launcher = Launcher(args.workers, args.ps, overrides, run_dir, entry_module=entry_module)
    launcher.say(f"[cluster] model_dir: {run_dir}")

    def stop(signum, frame):  # SIGTERM: as Ctrl-C (the finally blocks stop the tasks)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    # Ctrl-C must stop the cluster even when this process was started with SIGINT ignored
    # (as a background job of a script is), where Python installs no handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = launcher.run()
    except KeyboardInterrupt:
        launcher.stop_all()
        launcher.say("[cluster] interrupted: stopped every task")
        return 130
    return code
