"""Benchmark: TensorFlow's InMemoryEvaluatorHook against ours, in one process.

    tox -e bench        # bakes the default project, installs it, runs this with its Python

For MLPs of about 11k, 5M and 50M parameters (evaluation set: 2 batches of 32) it prints,
per evaluation: the stock hook's time, ours, the evaluation's own compute (a bare pass
over the eval batches in an open session with the weights in place), each hook's
overhead (time minus own compute) and the ratio, `estimator.evaluate()` from a
checkpoint, and the ops each hook adds to its eval graph per evaluation. For the 11k
model it then runs 1000 evaluations of ours and 1000 bare passes and prints the memory
slope (RSS growth per evaluation) of each, and whether our per-evaluation time rises.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
from digits_estimator.inmemory import InMemoryEvaluatorHook

tf.get_logger().setLevel("ERROR")

INPUTS, CLASSES, BATCH = 256, 10, 32
MODELS = {"11k": [40], "5M": [2048, 2048], "50M": [4096, 4096, 4096, 4096]}
PAGE = os.sysconf("SC_PAGE_SIZE")


def n_params(hidden: list[int]) -> int:
    widths = [INPUTS, *hidden, CLASSES]
    return sum(a * b + b for a, b in itertools.pairwise(widths))


def model_fn(features, labels, mode, params):
    net = features["x"]
    for i, units in enumerate(params["hidden"]):
        net = tf.keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(net)
    logits = tf.keras.layers.Dense(CLASSES, name="logits")(net)
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    if mode == tf.estimator.ModeKeys.EVAL:
        accuracy = tf.compat.v1.metrics.accuracy(labels, tf.argmax(logits, 1))
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={"accuracy": accuracy})
    train_op = tf.compat.v1.train.AdagradOptimizer(0.01).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step()
    )
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def input_fn(n_examples: int, repeat: bool, seed: int):
    def make():
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n_examples, INPUTS)).astype(np.float32)
        y = rng.integers(0, CLASSES, n_examples).astype(np.int32)
        ds = tf.data.Dataset.from_tensor_slices(({"x": x}, y))
        return (ds.repeat() if repeat else ds).batch(BATCH)

    return make


TRAIN_INPUT = input_fn(1024, repeat=True, seed=0)
EVAL_INPUT = input_fn(2 * BATCH, repeat=False, seed=1)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def timed(hook_cls):
    """A subclass recording the duration of every evaluation (and the eval graph's size)."""

    class Timed(hook_cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seconds, self.rss, self.ops = [], [], []

        def _close_eval_session(self):
            if hook_cls is not STOCK:  # keep it open: bare_passes() times passes in it
                self.kept = self._eval

        def _evaluate(self, *args):
            start = time.perf_counter()
            super()._evaluate(*args)
            self.seconds.append(time.perf_counter() - start)
            self.rss.append(rss_bytes())
            graph = self._graph if hook_cls is STOCK else self._eval.graph
            self.ops.append(len(graph.get_operations()))

    return Timed


STOCK = tf.estimator.experimental.InMemoryEvaluatorHook


def run_hook(hook_cls, hidden, evaluations: int, model_dir: str):
    estimator = tf.estimator.Estimator(
        model_fn,
        model_dir,
        params={"hidden": hidden},
        config=tf.estimator.RunConfig(save_checkpoints_steps=10**9, save_summary_steps=10**9),
    )
    hook = timed(hook_cls)(estimator, EVAL_INPUT, every_n_iter=1)
    # every step evaluates: the start, then steps 1..n (ours also at the end: same step, skipped)
    estimator.train(TRAIN_INPUT, max_steps=evaluations - 1, hooks=[hook])
    return estimator, hook


def bare_passes(hook, repeats: int) -> tuple[list[float], list[int]]:
    """The evaluation's own work: our eval graph, run in its open session, weights in place."""
    eval_session = hook.kept
    seconds, rss = [], []
    for _ in range(repeats):
        seconds.append(_time(eval_session.run))
        rss.append(rss_bytes())
    eval_session.close()
    return seconds, rss


def slope_kb(rss: list[int]) -> float:
    """Least-squares RSS growth per evaluation over the second half (after warm-up), in KB."""
    half = rss[len(rss) // 2 :]
    return float(np.polyfit(np.arange(len(half)), np.asarray(half, float), 1)[0]) / 1024


def ms(values) -> float:
    return 1000 * statistics.median(values)


def growth(ops: list[int]) -> float:
    return (ops[-1] - ops[0]) / (len(ops) - 1)


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(label: str, hidden: list[int], n: int) -> None:
    with tempfile.TemporaryDirectory() as stock_dir, tempfile.TemporaryDirectory() as ours_dir:
        _, stock = run_hook(STOCK, hidden, n, stock_dir)
        estimator, ours = run_hook(InMemoryEvaluatorHook, hidden, n, ours_dir)
        own = ms(bare_passes(ours, n)[0])
        checkpoint = tf.train.latest_checkpoint(ours_dir)
        evaluate = [
            _time(lambda: estimator.evaluate(EVAL_INPUT, checkpoint_path=checkpoint))
            for _ in range(5)
        ]
    stock_ms, ours_ms = ms(stock.seconds[1:]), ms(ours.seconds[1:])
    row = (
        label,
        f"{n_params(hidden):,}",
        f"{n_params(hidden) * 4 / 2**20:.1f}",
        f"{stock_ms:.2f}",
        f"{ours_ms:.2f}",
        f"{own:.2f}",
        f"{stock_ms - own:.2f}",
        f"{ours_ms - own:.2f}",
        f"{(ours_ms - own) / (stock_ms - own):.4f}",
        f"{ms(evaluate):.1f}",
        f"{ours_ms / ms(evaluate):.3f}",
        f"{growth(stock.ops):.1f}",
        f"{growth(ours.ops):.1f}",
    )
    print(" | ".join(row), flush=True)


def soak(evaluations: int, stock_evaluations: int) -> None:
    hidden = MODELS["11k"]
    with tempfile.TemporaryDirectory() as ours_dir, tempfile.TemporaryDirectory() as stock_dir:
        _, ours = run_hook(InMemoryEvaluatorHook, hidden, evaluations, ours_dir)
        bare_seconds, bare_rss = bare_passes(ours, evaluations)
        _, stock = run_hook(STOCK, hidden, stock_evaluations, stock_dir)
    print(f"\nsoak, 11k model: {evaluations} evaluations (stock: {stock_evaluations})")
    print("what | RSS growth KB/eval (2nd half) | first 10% ms | last 10% ms")
    for what, seconds, rss in (
        ("ours", ours.seconds, ours.rss),
        ("bare pass", bare_seconds, bare_rss),
        ("stock", stock.seconds, stock.rss),
    ):
        k = max(1, len(seconds) // 10)
        print(
            f"{what} | {slope_kb(rss):.3f} | {ms(seconds[1 : k + 1]):.2f} | {ms(seconds[-k:]):.2f}"
        )
    entry = ours.latest
    entry_bytes = sys.getsizeof(entry) + sum(map(sys.getsizeof, entry.values())) + 32
    print(f"ours keeps every result in .history by design: {entry_bytes} bytes per evaluation")
    print(
        f"ours, ops in eval graph: first {ours.ops[0]}, last {ours.ops[-1]}; "
        f"stock: first {stock.ops[0]}, last {stock.ops[-1]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluations", type=int, default=30, help="per hook and size")
    parser.add_argument(
        "--soak", type=int, default=1000, help="our evaluations for the memory slope"
    )
    parser.add_argument("--stock-soak", type=int, default=300, help="the stock hook's")
    args = parser.parse_args()
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; per-evaluation medians "
        f"(the first evaluation is warm-up and left out)"
    )
    header = (
        "model",
        "params",
        "MB",
        "stock ms",
        "ours ms",
        "own ms",
        "stock overhead",
        "ours overhead",
        "overhead ratio",
        "evaluate() ms",
        "ours/evaluate()",
        "ops/eval stock",
        "ops/eval ours",
    )
    print(" | ".join(header))
    for label, hidden in MODELS.items():
        compare(
            label, hidden, args.evaluations if label != "50M" else max(6, args.evaluations // 3)
        )
    soak(args.soak, args.stock_soak)


if __name__ == "__main__":
    main()
