"""The library installed alone (no extras) into a fresh virtual environment with TensorFlow:
a plain Estimator trains with InMemoryEvaluatorHook, every part the README promises without
extras imports, and Hydra, OmegaConf, rich and matplotlib are neither installed there nor
imported by any of it."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1]  # estimator_inmemory/: the distribution's folder
TENSORFLOW = "2.15"
LOCK = LIBRARY.parent / "locks" / f"tf{TENSORFLOW}.txt"
EXTRAS_ONLY = ("hydra", "omegaconf", "rich", "matplotlib")
PYPROJECT = (LIBRARY / "pyproject.toml").read_text()
# What the README promises without extras: the hook, its guards, best tracking, checkpoint
# evaluation (and the cluster's tasks), data, serving, the registries.
NO_EXTRAS_API = (
    "InMemoryEvaluatorHook", "Evaluation", "check_schedule", "check_tf_config", "check_runtime",
    "Monitor", "BestTracker", "BestKeeper", "CheckpointEvaluationExporter", "ClusterTask",
    "check_cluster_config", "Dataset", "load_csv", "train_input_fn", "eval_input_fn",
    "feature_columns", "export_saved_model", "Registry",
)  # fmt: skip

# Installs TensorFlow into a new environment: ~30 s from uv's cache, minutes without it.
pytestmark = pytest.mark.slow

TRAIN = textwrap.dedent(
    """
    import importlib.util, json, sys

    import numpy as np
    import tensorflow as tf

    import estimator_inmemory
    from estimator_inmemory import InMemoryEvaluatorHook

    def model_fn(features, labels, mode):
        w = tf.compat.v1.get_variable("w", [2, 1], initializer=tf.compat.v1.zeros_initializer())
        error = tf.matmul(features["x"], w) - labels
        loss = tf.reduce_mean(tf.square(error))
        if mode == tf.estimator.ModeKeys.EVAL:
            mse = tf.compat.v1.metrics.mean(tf.square(error))
            return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={"mse": mse})
        step = tf.compat.v1.train.get_global_step()
        train_op = tf.compat.v1.train.GradientDescentOptimizer(0.1).minimize(loss, step)
        return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)

    x = np.random.RandomState(0).rand(64, 2).astype(np.float32)
    y = x @ np.array([[1.0], [2.0]], np.float32)

    def input_fn(repeat):
        ds = tf.data.Dataset.from_tensor_slices(({"x": x}, y)).batch(16)
        return ds.repeat() if repeat else ds

    estimator = tf.estimator.Estimator(model_fn, model_dir=sys.argv[1])
    hook = InMemoryEvaluatorHook(estimator, lambda: input_fn(False), every_n_iter=10)
    estimator.train(lambda: input_fn(True), max_steps=30, hooks=[hook])

    extras, promised = sys.argv[2].split(","), sys.argv[3].split(",")
    missing = []
    for name in promised:
        try:
            getattr(estimator_inmemory, name)
        except ImportError as error:
            missing.append(f"{name}: {error}")
    print(json.dumps({
        "missing": missing,
        "history": {int(s): {k: float(v) for k, v in m.items()} for s, m in hook.history.items()},
        "library": estimator_inmemory.__file__,
        "version": estimator_inmemory.__version__,
        "installed": [m for m in extras if importlib.util.find_spec(m) is not None],
        "imported": sorted({name.split(".")[0] for name in sys.modules} & set(extras)),
    }))
    """
)


def uv() -> str:
    """The uv executable: $UV, else the one on PATH, else the one next to this Python (the
    test extra installs it), else the uv package's own."""
    found = os.environ.get("UV") or shutil.which("uv")
    found = found or shutil.which("uv", path=str(Path(sys.executable).parent))
    if not found:
        try:
            from uv import find_uv_bin
        except ImportError:
            pytest.fail("uv is needed to build the environment: pip install uv (the test extra)")
        found = find_uv_bin()
    return found


@pytest.fixture(scope="module")
def standalone():
    """A fresh venv with TensorFlow and the library alone; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="estimator-inmemory-standalone-"))
    try:
        venv = folder / "venv"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        for command in (
            # This interpreter: uv never goes looking for (or downloading) another.
            [uv(), "venv", "-q", "--python", sys.executable, str(venv)],
            [uv(), "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
             "-c", str(LOCK), f"tensorflow-cpu=={TENSORFLOW}.*", str(LIBRARY)],
        ):  # fmt: skip
            result = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=900, check=False
            )
            assert result.returncode == 0, result.stdout + result.stderr
        yield folder, venv / "bin" / "python", env
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_plain_estimator_trains_with_the_hook_and_none_of_the_extras(standalone):
    """And every part the README promises without extras imports there, none of them."""
    folder, python, env = standalone
    result = subprocess.run(
        [
            str(python),
            "-c",
            TRAIN,
            folder / "model",
            ",".join(EXTRAS_ONLY),
            ",".join(NO_EXTRAS_API),
        ],
        cwd=folder,  # not the source tree: the installed library is what imports
        env={**env, "TF_CPP_MIN_LOG_LEVEL": "2"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["installed"] == [] and report["imported"] == []  # after all of the API below
    assert report["missing"] == []
    assert Path(report["library"]).is_relative_to(folder / "venv"), report["library"]
    assert report["version"] == re.search(r'(?m)^version = "(.+)"', PYPROJECT).group(1)
    history = {int(step): metrics for step, metrics in report["history"].items()}
    steps = sorted(history)
    assert {10, 20, 30} <= set(steps) and steps[-1] == 30  # every 10 steps, and the end
    assert history[30]["mse"] < history[steps[0]]["mse"] / 2  # the weights it saw trained
    assert list((folder / "model" / "eval").glob("events.out.tfevents.*"))
