"""Benchmark: what keeping the best model costs training (issue: steps/s within 5 %).

    cd estimator_inmemory/benchmarks && python best.py   # against the installed library

For MLPs of about 11k and 50M parameters, trains the same number of steps with the
in-memory evaluator alone and with the evaluator plus `BestKeeper` (the project's best
checkpoint writer), interleaved, several times. The keeper monitors the global step, so
every evaluation is an improvement and writes a checkpoint: the worst case. Prints, per
model: training steps/s without and with best tracking and their ratio, the time the
training thread spends per write (taking the weights and queueing them), and the time the
writer thread spends per checkpoint (in the background).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from estimator_inmemory import best
from estimator_inmemory.hook import InMemoryEvaluatorHook
from mlp import input_fn, model_fn

tf.get_logger().setLevel("ERROR")

# label: (hidden units, training steps, evaluate every n steps)
MODELS = {"11k": ([40], 20000, 100), "50M": ([4096, 4096, 4096, 4096], 120, 20)}


class TimedKeeper(best.BestKeeper):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.call_seconds = []

    def __call__(self, evaluation):
        start = time.perf_counter()
        super().__call__(evaluation)
        self.call_seconds.append(time.perf_counter() - start)


WRITE_SECONDS = []
_save = best._save_checkpoint


def timed_save(prefix, weights):
    start = time.perf_counter()
    _save(prefix, weights)
    WRITE_SECONDS.append(time.perf_counter() - start)


best._save_checkpoint = timed_save


def steps_per_second(hidden, steps, every, with_best: bool) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory() as model_dir:
        estimator = tf.estimator.Estimator(
            model_fn,
            model_dir,
            params={"hidden": hidden},
            config=tf.estimator.RunConfig(save_checkpoints_steps=10**9, save_summary_steps=10**9),
        )
        hook = InMemoryEvaluatorHook(estimator, input_fn(64, False, 1), every_n_iter=every)
        keeper = None
        if with_best:
            keeper = TimedKeeper(model_dir, best.Monitor("global_step", "max"), keep=1)
            hook.add_callbacks(keeper)
        # Warm-up: one short call builds and caches everything a first call pays for.
        estimator.train(input_fn(1024, True, 0), max_steps=1, hooks=[hook])
        start = time.perf_counter()
        estimator.train(input_fn(1024, True, 0), max_steps=1 + steps, hooks=[hook])
        seconds = time.perf_counter() - start
        if keeper is not None:
            keeper.close()
        return steps / seconds, (keeper.call_seconds[1:] if keeper else [])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=sorted(MODELS), help="one model size")
    args = parser.parse_args()
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; worst case: every evaluation writes"
    )
    print(
        "model | steps, eval every | steps/s without | steps/s with | with/without | "
        "training-thread ms per write | writer-thread ms per checkpoint"
    )
    for label, (hidden, steps, every) in MODELS.items():
        if args.only not in (None, label):
            continue
        without, with_best, stalls = [], [], []
        WRITE_SECONDS.clear()
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            without.append(steps_per_second(hidden, steps, every, with_best=False)[0])
            rate, calls = steps_per_second(hidden, steps, every, with_best=True)
            with_best.append(rate)
            stalls.extend(calls)
        a, b = statistics.median(without), statistics.median(with_best)
        print(
            f"{label} | {steps}, {every} | {a:.1f} | {b:.1f} | {b / a:.3f} | "
            f"{1000 * statistics.median(stalls):.2f} | {1000 * statistics.median(WRITE_SECONDS):.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
