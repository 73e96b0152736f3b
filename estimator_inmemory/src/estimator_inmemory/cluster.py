"""A TensorFlow parameter-server cluster on this machine: chief, workers, ps and an evaluator.

    <slug>-cluster --workers 2 --ps 1 trainer.max_steps=5000     # a project's launcher

Every task is the project's training entry point (`python -m <package>.train
evaluator=checkpoint ...`) in a process of its own, on free localhost ports, with the
TF_CONFIG Kubeflow's Training Operator v1 would write for it (`tf_configs`), so a local run
meets the shape k8s/tfjob.yaml meets. All tasks share one model_dir: `model_dir=DIR`, or the
run folder `hydra.run.dir=DIR` names, or a new `outputs/<date>/<time>` (`run_folders`, as the
entry point picks its run folder). Each output line is printed with its task in front
(`[worker:0] ...`). Every task ends by itself, the ps tasks too (they read in model_dir that
the run is over: checkpoint.py); the launcher stops a ps task that has not ended
`PS_GRACE_SECS` after the others, and, when a task fails or on Ctrl-C, every task at once.
No task outlives it.

This module also says what a cluster may look like for `evaluator=checkpoint`
(`check_cluster_config`: the shapes Kubeflow, SageMaker, AI Platform / Vertex AI and
TensorFlow's docs write, checked by every task before TensorFlow starts), builds a JobSet
pod's TF_CONFIG from its environment (`tf_config_from_jobset`), and says which arguments each
task type runs with (`task_arguments`, which k8s/tfjob.yaml and k8s/jobset.yaml repeat: a
test compares). It does not import TensorFlow.
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

from . import files
from .errors import (
    JobSetEnvironmentError,
    MalformedTFConfigError,
    MasterWithEvaluatorError,
    NoChiefError,
    NoParameterServerError,
    SeveralChiefsError,
    SeveralEvaluatorsError,
    TaskNotInClusterError,
    UnknownTaskTypeError,
    UnsupportedClusterError,
)
from .guards import parse_tf_config

# The task types a launcher writes (the local one here, k8s/jobset.yaml), in cluster order.
LAUNCHED_JOBS = ("chief", "worker", "ps", "evaluator")
CHIEFS = ("chief", "master")  # master: Estimator's legacy chief (SageMaker, AI Platform < 2.1)
KNOWN_JOBS = (*CHIEFS, "worker", "ps", "evaluator")
# What a task prints when its gRPC port was taken between picking and binding it.
PORT_TAKEN = re.compile(r"Could not start gRPC server|Address already in use")
STOP_GRACE_SECS = 5  # SIGTERM, then SIGKILL after this long
PS_GRACE_SECS = 30  # how long the ps tasks may take to end by themselves after the others


# What a cluster may look like (no TensorFlow needed).


@dataclass(frozen=True)
class ClusterTask:
    """This process's place in the cluster TF_CONFIG describes (type None: no cluster)."""

    type: str | None = None
    index: int = 0
    training_tasks: int = 1  # chief (or master) + workers: the processes that read training data
    # Whether the run has an evaluator task, as far as this task can know: Kubeflow lists it
    # in 'cluster', TensorFlow's own shape does not. The chief then waits for its final
    # evaluation before it exits, and the ps tasks too (see checkpoint.py).
    evaluator: bool = False

    @property
    def name(self) -> str:
        return f"{self.type}:{self.index}" if self.type else "one process"

    @property
    def is_chief(self) -> bool:
        return self.type in CHIEFS

    @property
    def starts_run(self) -> bool:
        """Whether this process starts (or restores) the run: alone, or the chief or master."""
        return self.type is None or self.is_chief

    @property
    def trains(self) -> bool:
        """Whether this process runs training steps (and so reads training data)."""
        return self.type in (None, *CHIEFS, "worker")

    @property
    def evaluates(self) -> bool:
        """Whether this process evaluates: alone, the evaluator task, or a legacy master
        (Estimator's run_master trains and evaluates each new checkpoint itself)."""
        return self.type in (None, "evaluator", "master")

    @property
    def shard(self) -> tuple[int, int]:
        """(number of parts, this task's part) of the training data: the chief reads part
        0 and worker i part i+1, so the training tasks together read each example once."""
        if self.is_chief:
            return self.training_tasks, 0
        if self.type == "worker":
            return self.training_tasks, self.index + 1
        return 1, 0

    def describe(self) -> str:
        """What this task does, for its first log line."""
        if self.type is None:
            return "one process (trains, and evaluates each new checkpoint)"
        if self.trains:
            parts, part = self.shard
            also = ", and evaluates each new checkpoint" if self.type == "master" else ""
            return f"{self.name} (trains on part {part + 1} of {parts} of the training data{also})"
        if self.type == "ps":
            return f"{self.name} (holds variables; reads no data)"
        return f"{self.name} (evaluates each new checkpoint; reads the eval data only)"


def check_cluster_config(tf_config: str | None) -> ClusterTask:
    """The cluster evaluator=checkpoint can run, as the platforms write it.

    Accepted: no cluster; one chief (or one legacy 'master'), any workers with at least one
    'ps', at most one evaluator, inside 'cluster' (Kubeflow TFJob v1) or not (TensorFlow's
    docs, AI Platform, Vertex AI); other top-level keys ('environment', 'job') and task keys
    ('trial', 'cloud') are ignored; the task's index may be "0". Raises an
    `UnsupportedClusterError` subclass naming what is wrong and the platform setting to change.
    """
    try:
        cluster, task = parse_tf_config(tf_config)
    except MalformedTFConfigError as error:
        raise UnsupportedClusterError(str(error)) from None
    if not cluster:
        return ClusterTask()
    unknown = sorted(set(cluster) - set(KNOWN_JOBS))
    if unknown:
        raise UnknownTaskTypeError(
            f"TF_CONFIG's 'cluster' has job(s) {', '.join(unknown)}, which Estimator does not "
            f"run: a cluster has {', '.join(KNOWN_JOBS)} tasks; rename or remove them"
        )
    count = {job: len(cluster.get(job, [])) for job in KNOWN_JOBS}
    chiefs = count["chief"] + count["master"]
    if chiefs > 1:
        raise SeveralChiefsError(
            f"TF_CONFIG's 'cluster' has {count['chief']} 'chief' and {count['master']} "
            "'master' tasks; Estimator needs exactly one (it initialises the variables and "
            "writes the checkpoints): set Kubeflow's tfReplicaSpecs.Chief.replicas to 1 and "
            "drop Master (or the reverse), Vertex AI's workerPoolSpecs[0].replicaCount to 1"
        )
    if not chiefs:
        raise NoChiefError(
            f"TF_CONFIG's 'cluster' has no 'chief' ({_counts(count)}); Estimator needs one to "
            "initialise the variables and write the checkpoints: add a Chief replica to the "
            "TFJob (tfReplicaSpecs.Chief, replicas: 1; without one Kubeflow lists only "
            "workers), or give Vertex AI a first worker pool (workerPoolSpecs[0])"
        )
    if count["worker"] and not count["ps"]:
        raise NoParameterServerError(
            f"TF_CONFIG's 'cluster' has {count['worker']} worker(s) but no 'ps' task: workers "
            "share the variables through parameter servers: add at least one (Kubeflow "
            "tfReplicaSpecs.PS, Vertex AI workerPoolSpecs[2]; SageMaker: distribution "
            "parameter_server enabled)"
        )
    evaluator_listed = count["evaluator"] > 0
    if count["evaluator"] > 1:
        raise SeveralEvaluatorsError(
            f"TF_CONFIG's 'cluster' lists {count['evaluator']} evaluators; train_and_evaluate "
            "runs exactly one: set Kubeflow's tfReplicaSpecs.Evaluator.replicas (Vertex AI's "
            "workerPoolSpecs[3].replicaCount) to 1"
        )
    if task is None:
        raise TaskNotInClusterError(
            "TF_CONFIG has a 'cluster' but no 'task' saying which of its tasks this process "
            'is: add e.g. "task": {"type": "worker", "index": 0}'
        )
    task_type, index = task["type"], task["index"]
    if count["master"] and (evaluator_listed or task_type == "evaluator"):
        raise MasterWithEvaluatorError(
            "TF_CONFIG has a 'master' and an evaluator; Estimator's legacy master evaluates "
            "each checkpoint itself and runs no evaluator task beside it: name the chief "
            "'chief' (Kubeflow tfReplicaSpecs.Chief; AI Platform runtime 2.1+ writes 'chief'), "
            "or drop the evaluator"
        )
    if task_type == "evaluator":
        if index != 0:
            raise SeveralEvaluatorsError(
                f"TF_CONFIG's task is evaluator {index}; train_and_evaluate runs one evaluator, "
                "index 0: set the evaluator replicas to 1"
            )
    elif task_type not in cluster or not 0 <= index < len(cluster[task_type]):
        raise TaskNotInClusterError(
            f"TF_CONFIG's task (type {task_type!r}, index {index!r}) is not in its cluster "
            f"({_counts(count)}) nor the evaluator: fix the task"
        )
    return ClusterTask(
        task_type,
        index,
        training_tasks=chiefs + count["worker"],
        evaluator=evaluator_listed or task_type == "evaluator",
    )


def _counts(count: dict[str, int]) -> str:
    return ", ".join(f"{n} {job}" for job, n in count.items() if n) or "no tasks"


# The tasks and their arguments (shared with k8s/tfjob.yaml and k8s/jobset.yaml).


def task_arguments(task_type: str, model_dir: str, record_root: str | None = None) -> list[str]:
    """The Hydra overrides every task of `task_type` runs with, here and in k8s/*.yaml.

    All tasks share `model_dir`; each task type keeps Hydra's own output (`.hydra/`, the
    log file) in `<record_root>/tasks/<type>/` (default: model_dir), so one run stays in
    one folder. Hydra writes those with local file operations: with a model_dir in a
    bucket, give a local `record_root`.
    """
    return [
        "evaluator=checkpoint",
        f"model_dir={model_dir}",
        f"hydra.run.dir={record_root or model_dir}/tasks/{task_type}",
    ]


# TF_CONFIG from JobSet's environment (Kubernetes without Kubeflow).


def tf_config_from_jobset(environ=None) -> str:
    """TF_CONFIG for this pod of a JobSet (kubernetes-sigs/jobset), built from its environment.

    JobSet gives every pod a stable DNS name, `<jobset>-<replicatedJob>-<jobIndex>-<podIndex>.
    <subdomain>` (network.enableDNSHostnames, subdomain defaulting to the JobSet's name), and
    labels that k8s/jobset.yaml passes down as environment variables:

    - `JOBSET_NAME`: label jobset.sigs.k8s.io/jobset-name;
    - `REPLICATED_JOB_NAME`: label jobset.sigs.k8s.io/replicatedjob-name; this pod's role,
      one of chief, worker, ps, evaluator (the replicated jobs are named after them);
    - `JOB_INDEX`: label jobset.sigs.k8s.io/job-index (0: each role is one Job);
    - `JOB_COMPLETION_INDEX`: set by Kubernetes in an Indexed Job's pods: the task index;
    - `TF_JOBSET_TASKS`: how many pods each role has, e.g. "chief=1,worker=2,ps=1,evaluator=1"
      (the replicated jobs' parallelism; one place in the manifest to keep in step);
    - `TF_JOBSET_PORT` (default 2222) and `JOBSET_SUBDOMAIN` (default: the JobSet's name).

    The result has the shape Kubeflow's operator writes (every role in 'cluster', the
    evaluator too, and "environment": "cloud"), which `check_cluster_config` accepts.
    Raises `JobSetEnvironmentError` naming what is missing or inconsistent.
    """
    env = os.environ if environ is None else environ

    def need(name: str) -> str:
        value = env.get(name, "").strip()
        if not value:
            raise JobSetEnvironmentError(
                f"{name} is not set: TF_CONFIG is built from JobSet's pod labels and "
                "TF_JOBSET_TASKS, which k8s/jobset.yaml passes to every container"
            )
        return value

    def number(name: str, value: str) -> int:
        if not value.isdigit():
            raise JobSetEnvironmentError(f"{name}={value!r} must be a number >= 0")
        return int(value)

    jobset, role = need("JOBSET_NAME"), need("REPLICATED_JOB_NAME")
    job_index = number("JOB_INDEX", env.get("JOB_INDEX", "0").strip() or "0")
    pod_index = number("JOB_COMPLETION_INDEX", need("JOB_COMPLETION_INDEX"))
    port = number("TF_JOBSET_PORT", env.get("TF_JOBSET_PORT", "2222").strip() or "2222")
    subdomain = env.get("JOBSET_SUBDOMAIN", "").strip() or jobset
    tasks: dict[str, int] = {}
    for item in need("TF_JOBSET_TASKS").split(","):
        name, _, count = item.strip().partition("=")
        if name not in LAUNCHED_JOBS or name in tasks:
            raise JobSetEnvironmentError(
                f"TF_JOBSET_TASKS={env['TF_JOBSET_TASKS']!r}: each of {', '.join(LAUNCHED_JOBS)} "
                'at most once, as role=count (e.g. "chief=1,worker=2,ps=1,evaluator=1")'
            )
        tasks[name] = number(f"TF_JOBSET_TASKS ({name})", count.strip())
    if role not in tasks:
        raise JobSetEnvironmentError(
            f"this pod's replicated job is {role!r}, which TF_JOBSET_TASKS does not list: name "
            f"the replicated jobs {', '.join(LAUNCHED_JOBS)} and list each in TF_JOBSET_TASKS"
        )
    if job_index != 0 or pod_index >= tasks[role]:
        raise JobSetEnvironmentError(
            f"this pod is {role} job {job_index}, pod {pod_index}, but TF_JOBSET_TASKS says "
            f"{role}={tasks[role]}: give each replicated job replicas: 1 and parallelism and "
            "completions equal to its TF_JOBSET_TASKS count"
        )
    cluster = {
        name: [f"{jobset}-{name}-0-{i}.{subdomain}:{port}" for i in range(count)]
        for name, count in tasks.items()
        if count
    }
    task = {"type": role, "index": pod_index}
    return json.dumps({"cluster": cluster, "task": task, "environment": "cloud"})


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
    """Each task's TF_CONFIG, written as Kubeflow's Training Operator v1 writes it for a TFJob:
    every task in 'cluster' (the evaluator too), "environment": "cloud", and its own task.

    So a local cluster runs the shape k8s/tfjob.yaml meets (genClusterSpec in
    kubeflow/training-operator pkg/controller.v1/tensorflow/tensorflow.go). The evaluator's
    port is never opened: Estimator starts no server for an evaluator.
    """
    cluster: dict[str, list[str]] = {}
    for job in LAUNCHED_JOBS:
        for t in tasks:
            if t.type == job:
                cluster.setdefault(job, []).append(f"localhost:{ports[tasks.index(t)]}")
    return {
        t.name: json.dumps(
            {
                "cluster": cluster,
                "task": {"type": t.type, "index": t.index},
                "environment": "cloud",
            }
        )
        for t in tasks
    }


def adopt_jobset_environment(environ=None) -> str | None:
    """Set TF_CONFIG from JobSet's environment (`tf_config_from_jobset`) when a pod of
    k8s/jobset.yaml starts without one; return TF_CONFIG as this process now has it."""
    env = os.environ if environ is None else environ
    if not env.get("TF_CONFIG") and env.get("TF_JOBSET_TASKS"):
        env["TF_CONFIG"] = tf_config_from_jobset(env)
    return env.get("TF_CONFIG")


# Running them.


class Launcher:
    """Starts the tasks, prints their output, waits for each to end, and stops them all when
    one fails or on Ctrl-C."""

    def __init__(
        self,
        workers: int,
        ps: int,
        overrides: list[str],
        run_dir: str,
        *,
        entry_module: str,
        record_root: str | None = None,
        out=None,
    ):
        self.workers, self.ps = workers, ps
        self.entry_module = entry_module  # the project's training entry, run as each task
        self.overrides, self.run_dir = overrides, str(run_dir)  # run_dir: the model_dir
        self.record_root = record_root  # where tasks/<type>/ go (default: run_dir)
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
        configs = tf_configs(self.tasks, free_ports(len(self.tasks)))
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
            *task_arguments(task.type, self.run_dir, self.record_root),
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
        others_done_at = None
        while True:
            for task in self.tasks:
                code = task.process.poll()
                if code is None or code == 0:
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
            if all(t.process.poll() == 0 for t in self.tasks):
                self.say("[cluster] every task finished")
                return 0
            if others_done_at is None and all(
                t.process.poll() == 0 for t in self.tasks if t.type != "ps"
            ):
                others_done_at = time.monotonic()
            # The ps tasks end by themselves once model_dir says the run is over
            # (checkpoint.py); one that does not within PS_GRACE_SECS is stopped.
            if others_done_at and time.monotonic() - others_done_at > PS_GRACE_SECS:
                self.say(
                    f"[cluster] warning: ps tasks still running {PS_GRACE_SECS} s after the "
                    "others finished: stopping them"
                )
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

    from .config import check_known_keys, settings
    from .errors import EstimatorInMemoryError

    # Hydra's own settings (hydra.*) are not part of the composed job config.
    job_overrides = [o for o in overrides if not o.lstrip("+~").startswith("hydra.")]
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(config_dir)):
            cfg = compose("train", overrides=["evaluator=checkpoint", *job_overrides])
        settings(cfg)
        check_known_keys(cfg, config_dir)  # as each task's entry point would, before it starts
    except (HydraException, OmegaConfBaseException, EstimatorInMemoryError) as error:
        return " ".join(str(error).split())  # one line, all of it (hints included)
    return None


def run_folders(overrides: list[str], claim) -> tuple[str, str | None, list[str]]:
    """(model_dir, where the tasks' Hydra folders go or None for model_dir, the other
    overrides), from the launcher's overrides, as the entry point picks its run folder.

    `model_dir=DIR` trains in DIR; `hydra.run.dir=DIR` makes DIR the run folder (the
    model_dir, unless model_dir= is given too: then the tasks' records go there); neither:
    a folder `claim()` claims (outputs/<date>/<time>). Hydra writes only local folders, so
    a model_dir in a bucket gets a claimed local folder for them.
    """
    model_dir, record_root, rest = None, None, []
    for override in overrides:
        key, _, value = override.partition("=")
        if key == "model_dir":
            model_dir = value
        elif key == "hydra.run.dir":
            record_root = value
        else:
            rest.append(override)
    if record_root is None and (model_dir is None or files.is_remote(model_dir)):
        record_root = claim()
    if record_root is not None:
        record_root = os.path.abspath(record_root)
    if model_dir is None:
        return record_root, None, rest
    if not files.is_remote(model_dir):
        model_dir = os.path.abspath(model_dir)
    return model_dir, record_root, rest


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
        help="Hydra overrides for every task; model_dir=DIR or hydra.run.dir=DIR picks the "
        "run folder (default: a new outputs/<date>/<time>)",
    )
    args = parser.parse_args(argv)
    if args.workers < 0 or args.ps < 0 or (args.workers and not args.ps):
        parser.error("--workers and --ps must be >= 0, and workers need at least one ps")
    problem = config_problem(
        [o for o in args.overrides if o.partition("=")[0] not in ("model_dir", "hydra.run.dir")],
        config_dir,
    )
    if problem:  # before any task starts: every task would fail the same way
        print(f"error: {problem}", file=sys.stderr)
        return 2
    model_dir, record_root, overrides = run_folders(
        args.overrides, claim=lambda: claim_run_dir("outputs")
    )
    for folder in (model_dir, record_root):
        if folder and not files.is_remote(folder):
            os.makedirs(folder, exist_ok=True)
    launcher = Launcher(
        args.workers,
        args.ps,
        overrides,
        model_dir,
        entry_module=entry_module,
        record_root=record_root,
    )
    launcher.say(f"[cluster] model_dir: {model_dir}")

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
