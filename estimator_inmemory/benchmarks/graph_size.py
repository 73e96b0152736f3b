"""Benchmark: the training graph as saved, with and without in-memory evaluation (issue 18).

    cd estimator_inmemory/benchmarks && python graph_size.py [--mb 41]

Trains a canned DNNClassifier ([32, 16], 64 features) for 10 steps, a checkpoint every 5,
evaluating every 5 on an eval set of `--mb` MB of NumPy arrays (`from_tensor_slices`),
without a hook, in place, in place with an eval hook, and copied; prints graph.pbtxt and
each checkpoint's .meta in MB, and each against the run without a hook.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from estimator_inmemory import Dataset, eval_input_fn, feature_columns, train_input_fn
from estimator_inmemory.hook import InMemoryEvaluatorHook

tf.get_logger().setLevel("ERROR")
FEATURES = 64


class CountBatches(tf.estimator.SessionRunHook):
    def after_run(self, run_context, run_values):
        pass


def run(row: str, data: Dataset, model_dir: str) -> dict:
    estimator = tf.estimator.DNNClassifier(
        [32, 16],
        feature_columns(data),
        n_classes=10,
        model_dir=model_dir,
        optimizer=lambda: tf.keras.optimizers.legacy.Adagrad(0.05),
        config=tf.estimator.RunConfig(save_checkpoints_steps=5),
    )
    hooks = []
    if row != "none":
        design = "copy" if row == "copy" else "in_place"
        eval_hooks = [CountBatches()] if row.endswith("+hook") else None
        hooks.append(
            InMemoryEvaluatorHook(
                estimator,
                eval_input_fn(data, 4096),
                hooks=eval_hooks,
                every_n_iter=5,
                design=design,
            )
        )
    start = time.perf_counter()
    estimator.train(train_input_fn(data, 32, 1), max_steps=10, hooks=hooks)
    seconds = time.perf_counter() - start
    files = {p.name: p.stat().st_size for p in sorted(Path(model_dir).iterdir())}
    return {
        "graph.pbtxt": files["graph.pbtxt"],
        **{name: size for name, size in files.items() if name.endswith(".meta")},
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=41, help="eval set size in MB")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = int(args.mb * 1e6 / 4 / FEATURES)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    y = rng.integers(0, 10, n).astype(np.int32)
    data = Dataset(x[:512], y[:512], x, y, n_classes=10)
    print(f"TensorFlow {tf.__version__}; eval set {x.nbytes / 1e6:.1f} MB ({n} examples)")
    with tempfile.TemporaryDirectory() as root:
        results = {row: run(row, data, f"{root}/{row}") for row in
                   ("none", "in_place", "in_place+hook", "copy")}  # fmt: skip
    none = results["none"]
    print("row | " + " | ".join(f"{k} MB (x no hook)" for k in none if k != "seconds") + " | s")
    for row, sizes in results.items():
        cells = [
            f"{size / 1e6:.3f} ({size / none[k]:.3f})"
            for k, size in sizes.items()
            if k != "seconds"
        ]
        print(f"{row} | " + " | ".join(cells) + f" | {sizes['seconds']:.1f}")


if __name__ == "__main__":
    main()
