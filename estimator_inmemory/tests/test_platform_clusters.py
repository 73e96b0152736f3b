"""Clusters as the platforms start them: separate processes, each the unchanged task command
(`python -m fixture_project.train evaluator=checkpoint model_dir=... hydra.run.dir=...`)
with the TF_CONFIG its scheduler writes, on one shared model_dir; no launcher in between.

The TFJob shape runs through the launcher (test_cluster.py), which writes it. Here:
SageMaker's parameter-server mode, and a resumed cluster whose workers must start training
at once. Every task must end by itself, the ps tasks too. Slow: real clusters.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from estimator_inmemory.cluster import free_ports
from helpers import PACKAGE, subprocess_env

pytestmark = pytest.mark.slow
FAST = ["trainer.save_checkpoints_steps=200", "evaluator.throttle_secs=1"]
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


class Cluster:
    """One process per task, each with its own TF_CONFIG; output to a file per task."""

    def __init__(self, model_dir: Path, tf_configs: dict[str, dict], overrides: list[str]):
        self.model_dir, self.processes, self.logs = model_dir, {}, {}
        for name, config in tf_configs.items():
            folder = name.replace(":", "-")
            log = model_dir.parent / f"{model_dir.name}-{folder}.log"
            self.logs[name] = log
            command = [
                *(sys.executable, "-m", f"{PACKAGE}.train", "evaluator=checkpoint"),
                f"model_dir={model_dir}",
                f"hydra.run.dir={model_dir}/tasks/{folder}",
                *overrides,
            ]
            env = {**subprocess_env(), "TF_CONFIG": json.dumps(config), "PYTHONUNBUFFERED": "1"}
            with open(log, "w") as out:
                self.processes[name] = subprocess.Popen(
                    command, env=env, stdout=out, stderr=subprocess.STDOUT
                )

    def wait(self, timeout: float) -> dict[str, int]:
        """Every task's exit code; a task still running at the timeout fails the test."""
        deadline = time.monotonic() + timeout
        try:
            for name, process in self.processes.items():
                remaining = max(0.0, deadline - time.monotonic())
                try:
                    process.wait(timeout=remaining)
                except subprocess.TimeoutExpired:
                    pytest.fail(f"{name} did not end by itself within {timeout} s:\n{self.output}")
        finally:
            for process in self.processes.values():
                if process.poll() is None:
                    process.kill()
                    process.wait()
        return {name: process.returncode for name, process in self.processes.items()}

    def log(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace")

    @property
    def output(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)[-3000:]}" for name in self.processes)

    def seconds_between(self, name: str, first: str, then: str) -> float:
        """Seconds between the log lines of task `name` that contain `first` and `then`."""
        stamps = {}
        for line in self.log(name).splitlines():
            for key in (first, then):
                match = STAMP.match(line)
                if key in line and match and key not in stamps:
                    stamps[key] = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
        return (stamps[then] - stamps[first]).total_seconds()


def evaluations(model_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (model_dir / "evaluations.jsonl").open()]


def sagemaker_tf_configs(hosts: int = 2) -> dict[str, dict]:
    """SageMaker's parameter-server mode on `hosts` hosts, as its training toolkit writes
    TF_CONFIG (aws/sagemaker-tensorflow-training-toolkit, src/sagemaker_tensorflow_container/
    training.py, _build_tf_config): the first host 'master' at :2222, the others 'worker's,
    a 'ps' on every host at :2223, "environment": "cloud", no evaluator. Here each host is
    a pair of localhost ports. (The toolkit starts its ps servers itself from this cluster;
    here the ps tasks run the same task command, with the TF_CONFIG its ps_task=True gives.)"""
    ports = free_ports(2 * hosts)
    training = [f"localhost:{port}" for port in ports[:hosts]]
    ps = [f"localhost:{port}" for port in ports[hosts:]]
    cluster = {"master": training[:1], "ps": ps}
    if hosts > 1:
        cluster["worker"] = training[1:]
    configs = {
        "master:0": {
            "cluster": cluster,
            "environment": "cloud",
            "task": {"index": 0, "type": "master"},
        }
    }
    for i in range(hosts - 1):
        task = {"index": i, "type": "worker"}
        configs[f"worker:{i}"] = {"cluster": cluster, "environment": "cloud", "task": task}
    for i in range(hosts):
        task = {"index": i, "type": "ps"}
        configs[f"ps:{i}"] = {"cluster": cluster, "environment": "cloud", "task": task}
    return configs


def test_a_sagemaker_shaped_cluster_trains_to_max_steps_and_every_task_ends_by_itself(tmp_path):
    model_dir, max_steps = tmp_path / "run", 600
    cluster = Cluster(model_dir, sagemaker_tf_configs(), [f"trainer.max_steps={max_steps}", *FAST])
    codes = cluster.wait(timeout=600)
    assert codes == {"master:0": 0, "worker:0": 0, "ps:0": 0, "ps:1": 0}, cluster.output
    # The master is Estimator's legacy chief: it trains part 1 of 2 and evaluates itself.
    assert "as master:0 (trains on part 1 of 2 of the training data, and evaluates" in (
        cluster.log("master:0")
    )
    assert re.search(r"worker:0 ran [1-9]\d* training steps", cluster.log("worker:0"))
    final = evaluations(model_dir)[-1]
    assert final["step"] >= max_steps and final["accuracy"] > 0.5
    best = json.loads((model_dir / "best" / "best.json").read_text())
    assert (model_dir / best["kept"][0]["export"] / "saved_model.pb").is_file()
    for ps in ("ps:0", "ps:1"):
        assert "master-0, worker-0 are done: this ps task exits" in cluster.log(ps)


def kubeflow_tf_configs(workers: int = 1) -> dict[str, dict]:
    """A TFJob's TF_CONFIG (every replica type in 'cluster', the evaluator too), on localhost."""
    names = ["chief:0", *(f"worker:{i}" for i in range(workers)), "ps:0", "evaluator:0"]
    ports = dict(zip(names, free_ports(len(names))))
    cluster: dict[str, list[str]] = {}
    for name in names:
        cluster.setdefault(name.split(":")[0], []).append(f"localhost:{ports[name]}")
    return {
        name: {
            "cluster": cluster,
            "task": {"type": name.split(":")[0], "index": int(name.split(":")[1])},
            "environment": "cloud",
        }
        for name in names
    }


def test_a_resumed_clusters_workers_start_training_within_seconds(tmp_path):
    model_dir = tmp_path / "run"
    first = Cluster(model_dir, kubeflow_tf_configs(), ["trainer.max_steps=200", *FAST])
    assert set(first.wait(timeout=600).values()) == {0}, first.output
    # The same run, resumed to more steps by a new cluster: the checkpoint is there at once,
    # but the chief restores it onto the new ps task only after its own start-up.
    (tmp_path / "first").mkdir()
    for log in first.logs.values():
        log.rename(tmp_path / "first" / log.name)
    # A long throttle_secs: TensorFlow's evaluator would also sleep it after its final
    # evaluation before ending.
    overrides = ["trainer.max_steps=600", "trainer.save_checkpoints_steps=200"]
    resumed = Cluster(model_dir, kubeflow_tf_configs(), [*overrides, "evaluator.throttle_secs=20"])
    assert set(resumed.wait(timeout=600).values()) == {0}, resumed.output
    waited = resumed.seconds_between("worker:0", "train_and_evaluate as", "ran its first training")
    # TensorFlow's worker session would sleep 30 s on the not-yet-restored variables.
    assert waited < 15, resumed.log("worker:0")
    assert re.search(r"worker:0 ran [1-9]\d* training steps", resumed.log("worker:0"))
    final = evaluations(model_dir)[-1]["step"]
    assert final >= 600
    tail = resumed.seconds_between("evaluator:0", f"eval step {final}:", "learning curves:")
    assert tail < 10, resumed.log("evaluator:0")
