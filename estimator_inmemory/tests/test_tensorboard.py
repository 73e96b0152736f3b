"""A run's hyperparameters and eval metrics reach TensorBoard: read from the real server."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
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


@pytest.fixture(params=["runs folder", "run folder"])
def tensorboard(request, tmp_path):
    """Train a short run, start the real `tensorboard` on the folder of runs (as for a sweep)
    or on the run's own folder; yield (query function, run folder, the run's name there)."""
    run_dir = tmp_path / "runs" / "lr-0.07"
    logdir, run = (
        (tmp_path / "runs", "lr-0.07") if request.param == "runs folder" else (run_dir, ".")
    )
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
    # TensorBoard leaves an info file in its temp folder (.tensorboard-info/) unless it exits
    # cleanly: this server gets a temp folder of its own, removed with it.
    server_temp = Path(tempfile.mkdtemp(prefix="tensorboard-"))
    server = subprocess.Popen(
        [
            str(binary),
            "--logdir",
            str(logdir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--load_fast=false",  # the Python reader: no data-server subprocess to outlive us
            "--reload_interval=0",  # read the finished run once
        ],
        env={**os.environ, "TMPDIR": str(server_temp)},
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
                if eval_run(run) in query("/data/plugin/scalars/tags"):
                    break  # up, and the run is loaded
            except (urllib.error.URLError, ConnectionError):
                pass
            assert time.monotonic() < deadline, f"tensorboard not serving in {STARTUP_SECONDS} s"
            time.sleep(0.5)
        assert list(server_temp.glob(".tensorboard-info/pid-*.info"))  # where it writes
        yield query, run_dir, run
    finally:
        server.kill()
        server.wait(timeout=30)
        shutil.rmtree(server_temp)


def eval_run(run: str) -> str:
    """TensorBoard's name of the run's eval folder."""
    return "eval" if run == "." else f"{run}/eval"


def metric(values: list[dict], group: str, tag: str) -> dict:
    """The HParams metric value named (group, tag) (an empty group is left out of the JSON)."""
    return next(m for m in values if (m["name"].get("group", ""), m["name"]["tag"]) == (group, tag))


def test_tensorboard_serves_the_eval_scalars_and_the_hyperparameters(tensorboard):
    tensorboard, run_dir, run = tensorboard
    tags = tensorboard("/data/plugin/scalars/tags")
    assert {"accuracy", "average_loss", "loss"} <= set(tags[eval_run(run)])
    assert "loss" in tags[run]  # the training loss

    experiment = tensorboard("/data/plugin/hparams/experiment", {"experimentName": ""})
    names = {info["name"] for info in experiment["hparamInfos"]}
    assert {"trainer.learning_rate", "trainer.batch_size", "model.hidden_units"} <= names
    metrics = {(m["name"].get("group", ""), m["name"]["tag"]) for m in experiment["metricInfos"]}
    # Also with TensorBoard pointed at the run's own folder, which once listed none.
    assert {("eval", "accuracy"), ("eval", "average_loss"), ("", "best/accuracy")} <= metrics

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
    # The dashboard's eval metric values are the run's final evaluation ...
    final = json.loads((run_dir / "result.json").read_text())
    values = groups[0]["metricValues"]
    accuracy = metric(values, "eval", "accuracy")
    assert accuracy["trainingStep"] == 60
    assert accuracy["value"] == pytest.approx(final["metrics"]["accuracy"])
    # ... and beside them the best monitored value, at its step, and that step.
    best = metric(values, "", "best/accuracy")
    assert best["value"] == pytest.approx(final["best"]["value"])
    assert best["trainingStep"] == final["best"]["step"]
    assert metric(values, "", "best/step")["value"] == final["best"]["step"]
