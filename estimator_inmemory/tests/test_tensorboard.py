"""A run's hyperparameters and eval metrics reach TensorBoard: read from the real server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers import compose_train, train

STARTUP_SECONDS = 180  # TensorBoard imports TensorFlow first: slow on a busy machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


pytestmark = pytest.mark.slow  # the real TensorBoard server


@pytest.fixture
def tensorboard(tmp_path):
    """Train a short run, start the real `tensorboard` on it; yield (query function, run)."""
    run_dir = tmp_path / "runs" / "lr-0.07"
    cfg = compose_train(
        "trainer.max_steps=60",
        "evaluator.every_n_iter=20",
        "trainer.learning_rate=0.07",
        "model.hidden_units=[48,24]",
        "trainer.export=none",
    )
    train(cfg, run_dir=run_dir)
    port = free_port()
    binary = Path(sys.executable).with_name("tensorboard")
    server = subprocess.Popen(
        [
            str(binary),
            "--logdir",
            str(tmp_path / "runs"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast=false",  # the Python reader: no data-server subprocess to outlive us
            "--reload_interval=0",  # read the finished run once
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )

    def query(path: str, body: dict | None = None):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert server.poll() is None, f"tensorboard exited: {server.stderr.read()[-2000:]}"
            try:
                if "lr-0.07/eval" in query("/data/plugin/scalars/tags"):
                    break  # up, and the run is loaded
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, f"tensorboard not serving in {STARTUP_SECONDS} s"
            time.sleep(0.5)
        yield query, run_dir
    finally:
        server.kill()
        server.wait(timeout=30)


def test_tensorboard_serves_the_eval_scalars_and_the_hyperparameters(tensorboard):
    tensorboard, run_dir = tensorboard
    tags = tensorboard("/data/plugin/scalars/tags")
    assert {"accuracy", "average_loss", "loss"} <= set(tags["lr-0.07/eval"])
    assert "loss" in tags["lr-0.07"]  # the training loss

    experiment = tensorboard("/data/plugin/hparams/experiment", {"experimentName": ""})
    names = {info["name"] for info in experiment["hparamInfos"]}
    assert {"trainer.learning_rate", "trainer.batch_size", "model.hidden_units"} <= names
    metrics = {(m["name"]["group"], m["name"]["tag"]) for m in experiment["metricInfos"]}
    assert ("eval", "accuracy") in metrics

    groups = tensorboard(
        "/data/plugin/hparams/session_groups",
        {
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_RUNNING"],
            "colParams": [],
            "startIndex": 0,
            "sliceSize": 10,
        },
    )["sessionGroups"]
    assert len(groups) == 1
    hparams = groups[0]["hparams"]
    assert hparams["trainer.learning_rate"] == pytest.approx(0.07)
    assert hparams["model.hidden_units"] == "[48, 24]"
    assert hparams["trainer.max_steps"] == 60
    # The dashboard's metric value is the run's final evaluation.
    final = json.loads((run_dir / "result.json").read_text())
    accuracy = next(
        m for m in groups[0]["metricValues"] if m["name"] == {"group": "eval", "tag": "accuracy"}
    )
    assert accuracy["trainingStep"] == 60
    assert accuracy["value"] == pytest.approx(final["metrics"]["accuracy"])
