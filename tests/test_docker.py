"""The generated project's image, built and run on a real Docker engine.

Needs an engine and a local base image: `eval "$(.ci/docker-engine start | tail -n1)"`
sets DOCKER_HOST and BASE_IMAGE_NAME (no image registry is reachable here, so the
image is built FROM a debootstrapped Debian, with tensorflow-cpu, through the same
Dockerfile's build arguments). Without an engine these tests skip, except in CI.
"""

import json
import os
import shutil
import socket
import subprocess
import uuid

import pytest
from template_repo import DEFAULT_SLUG, TEMPLATE_DIR, run_cookiecutter

pytestmark = pytest.mark.docker


def docker(*args, timeout=900):
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def engine_problem() -> str | None:
    if not shutil.which("docker"):
        return "no docker client on PATH"
    if not os.environ.get("BASE_IMAGE_NAME"):
        return "BASE_IMAGE_NAME is not set: run `.ci/docker-engine start` and eval its last line"
    info = docker("info", timeout=30)
    if info.returncode != 0:
        return f"no Docker engine answers ({info.stderr.strip().splitlines()[-1:]})"
    return None


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    problem = engine_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Docker tests: {problem}")
        pytest.skip(problem)
    workdir = tmp_path_factory.mktemp("docker")
    baked = run_cookiecutter(TEMPLATE_DIR, workdir)
    assert baked.returncode == 0, baked.stderr
    tag = f"{DEFAULT_SLUG}:test-{uuid.uuid4().hex[:8]}"
    build = docker(
        "build",
        "--network",
        "host",
        "-t",
        tag,
        "--build-arg",
        f"BASE_IMAGE={os.environ['BASE_IMAGE_NAME']}",
        "--build-arg",
        "TF_EXTRA=cpu",
        str(workdir / "out" / DEFAULT_SLUG),
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    yield tag
    docker("image", "rm", "-f", tag)


def test_container_trains_and_keeps_its_outputs_in_the_volume(image, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    runs.chmod(0o777)  # the container's user (uid 1000) writes here
    result = docker(
        "run",
        "--rm",
        "-v",
        f"{runs}:/runs",
        image,
        "trainer.max_steps=200",
        "evaluator.every_n_iter=100",
        "hydra.run.dir=/runs/demo",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "sees CPU:0" in output
    for step in (0, 100, 200):
        assert f"eval step {step}: accuracy=" in output
    assert list((runs / "demo" / "eval").glob("events.out.tfevents.*"))
    assert list((runs / "demo" / "export" / "best").glob("*/saved_model.pb"))
    assert (runs / "demo" / "best" / "best.json").is_file()
    assert len((runs / "demo" / "evaluations.jsonl").read_text().splitlines()) == 3


def test_gpus_all_without_a_gpu_fails_clearly(image):
    result = docker("run", "--rm", "--gpus", "all", image, "trainer.max_steps=1")
    assert result.returncode == 125
    assert "could not select device driver" in result.stderr


def test_require_gpu_without_a_gpu_stops_with_our_message(image):
    result = docker("run", "--rm", image, "runtime.require_gpu=true")
    assert result.returncode == 2
    assert "runtime.require_gpu=true, but TensorFlow sees no GPU" in result.stderr
    assert "Traceback" not in result.stderr


def test_container_user_is_not_root(image):
    result = docker("run", "--rm", "--entrypoint", "id", image, "-u")
    assert result.returncode == 0 and result.stdout.strip() not in ("", "0")
    assert docker("image", "inspect", "-f", "{{.Config.User}}", image).stdout.strip() == "1000"


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_a_cluster_of_containers_trains_evaluates_and_exports_into_the_volume(image, tmp_path):
    """chief, worker, ps and evaluator containers (host network), one volume as model_dir,
    each given TF_CONFIG as Kubeflow's Training Operator v1 writes it for k8s/tfjob.yaml:
    every task in 'cluster', the evaluator too, and "environment": "cloud". Every container
    ends by itself, the ps one too."""
    runs = tmp_path / "runs"
    runs.mkdir()
    runs.chmod(0o777)
    tasks = ("ps", "evaluator", "worker", "chief")
    ports = dict(zip(tasks, free_ports(len(tasks)), strict=True))
    cluster = {task: [f"localhost:{ports[task]}"] for task in tasks}
    max_steps = 400
    run = uuid.uuid4().hex[:8]
    names = {task: f"cluster-{run}-{task}" for task in tasks}
    try:
        for task, name in names.items():
            tf_config = json.dumps(
                {"cluster": cluster, "task": {"type": task, "index": 0}, "environment": "cloud"}
            )
            started = docker(
                *("run", "-d", "--name", name, "--network", "host", "-v", f"{runs}:/runs"),
                *("-e", f"TF_CONFIG={tf_config}", image),
                "evaluator=checkpoint",
                "model_dir=/runs/cluster",
                f"hydra.run.dir=/runs/cluster/tasks/{task}",
                f"trainer.max_steps={max_steps}",
                "trainer.save_checkpoints_steps=100",
                "evaluator.throttle_secs=1",
            )
            assert started.returncode == 0, started.stderr
        for task in ("chief", "worker", "evaluator", "ps"):  # the ps task ends by itself too
            waited = docker("wait", names[task], timeout=600)
            logs = docker("logs", names[task])
            assert waited.stdout.strip() == "0", (
                f"{task}: {logs.stdout[-2000:]}{logs.stderr[-3000:]}"
            )
        evaluator_logs = docker("logs", names["evaluator"])
        evaluator_log = evaluator_logs.stdout + evaluator_logs.stderr
        ps_logs = docker("logs", names["ps"])
    finally:
        docker("rm", "-f", *names.values(), timeout=120)
    model_dir = runs / "cluster"
    evaluations = [json.loads(line) for line in (model_dir / "evaluations.jsonl").open()]
    final = evaluations[-1]
    assert final["step"] >= max_steps and final["accuracy"] > 0.5
    assert f"eval step {final['step']}: accuracy=" in evaluator_log
    assert "this ps task exits" in ps_logs.stdout + ps_logs.stderr
    best = json.loads((model_dir / "best" / "best.json").read_text())
    assert (model_dir / best["kept"][0]["export"] / "saved_model.pb").is_file()
