"""Benchmark: our InMemoryEvaluatorHook's designs against TensorFlow's, in one process.

    cd estimator_inmemory/benchmarks && python evaluator.py            # everything below
    python evaluator.py --only loop --sizes 5M --runs 7 --steps 800     # the loop charge
    python evaluator.py --only loop --sizes 50M --runs 5 --steps 100    # (design note)

Runs against the installed library (`pip install -e 'estimator_inmemory[all]'`) and the
MLP model_fn of `mlp.py` on synthetic data (eval set: 2 batches of 32). Rows:
  none            no hook (the reference the loop charge is measured against)
  in_place        our default design
  in_place+hook   the same with an eval hook that counts batches (hooks=[...])
  copy            the fallback design (a separate eval session the weights are copied into)
  copy+hook       the same with the eval hook
  stock           tf.estimator.experimental.InMemoryEvaluatorHook (with --eval-hook: also
                  given the eval hook; every row then has one)

1. `loop` (per size, every row `--runs` fresh trainings, interleaved, of `--steps` steps,
   evaluating every `--every` steps): per evaluation the median time of the evaluation
   itself; the evaluation's own compute (a bare pass over the eval batches in the copy
   design's open eval session, weights in place, right after each of its evaluations);
   the training step time; and the loop charge: the time from the second training step's
   start to the last one's, minus the same window of a run without a hook, divided by
   the evaluations in that window. It therefore counts the evaluation, the slower steps
   after it, the summary thread and any fetch the hook adds to training steps. Each
   figure is the median over runs, with the spread (min-max) of the per-run values.
2. `repeated`: four identical fresh trainings of the 50M model in one process, per row:
   each training's loop time per (steps + evaluation), and the max/min ratio.
3. `soak`: 1000 evaluations at 11k per design: first against last 10% of evaluation
   times, RSS slope, ops in the graph the evaluation runs in.

The machine may be shared: compare rows of one run, and run it twice before trusting a
small difference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from estimator_inmemory.hook import InMemoryEvaluatorHook
from mlp import BATCH, input_fn, model_fn, n_params

tf.get_logger().setLevel("ERROR")

MODELS = {"11k": [40], "5M": [2048, 2048], "50M": [4096, 4096, 4096, 4096]}
GOAL = 0.15  # loop charge over own compute, at 5M and 50M
ROWS = ("none", "in_place", "in_place+hook", "copy", "copy+hook", "stock")
PAGE = os.sysconf("SC_PAGE_SIZE")
STOCK = tf.estimator.experimental.InMemoryEvaluatorHook


TRAIN_INPUT = input_fn(1024, repeat=True, seed=0)
EVAL_INPUT = input_fn(2 * BATCH, repeat=False, seed=1)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


class StepTimer(tf.estimator.SessionRunHook):
    """Wall time of each training step (first in the hook list: evaluations run after it)."""

    def __init__(self):
        self.seconds, self.starts, self.cpu_starts = [], [], []

    def before_run(self, run_context):
        self._start = time.perf_counter()
        self.starts.append(self._start)
        self.cpu_starts.append(time.process_time())

    def after_run(self, run_context, run_values):
        self.seconds.append(time.perf_counter() - self._start)


class CountBatches(tf.estimator.SessionRunHook):
    """The eval hook of the `+hook` rows: counts eval batches (before_run and after_run)."""

    def __init__(self):
        self.batches = 0

    def before_run(self, run_context):
        return None

    def after_run(self, run_context, run_values):
        self.batches += 1


def timed(hook_cls):
    """A subclass recording when each evaluation ran and how long it took."""

    class Timed(hook_cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seconds, self.at, self.rss, self.ops = [], [], [], []
            self.own = []  # copy: a bare pass right after each evaluation, weights in place
            self.own_cpu = []  # its CPU time (all threads of the process)
            self.measure_own = True
            # RSS and the op count after each evaluation: the soak's figures only. Elsewhere
            # they would be charged to the hook (reading /proc/self/statm took 0.39 ms, and
            # listing the training graph's ops grows with the graph).
            self.measure_memory = False

        def _evaluate(self, *args):
            start = time.perf_counter()
            super()._evaluate(*args)
            self.seconds.append(time.perf_counter() - start)
            self.at.append(start)
            if hook_cls is not STOCK and self._eval.design == "copy" and self.measure_own:
                start, cpu = time.perf_counter(), time.process_time()
                self._eval.run()
                self.own.append(time.perf_counter() - start)
                self.own_cpu.append(time.process_time() - cpu)
            if self.measure_memory:
                self.rss.append(rss_bytes())
                graph = self._graph if hook_cls is STOCK else self._eval.graph
                self.ops.append(len(graph.get_operations()))

    return Timed


def make_estimator(hidden, model_dir):
    return tf.estimator.Estimator(
        model_fn,
        model_dir,
        params={"hidden": hidden},
        config=tf.estimator.RunConfig(save_checkpoints_steps=10**9, save_summary_steps=10**9),
    )


def make_hook(row: str, estimator, every: int, eval_hook: bool):
    """The hook of a row (None for "none")."""
    design, _, plus = row.partition("+")
    hooks = [CountBatches()] if plus or eval_hook else None
    if design == "none":
        return None
    if design == "stock":
        return timed(STOCK)(estimator, EVAL_INPUT, hooks=hooks, every_n_iter=every)
    return timed(InMemoryEvaluatorHook)(
        estimator, EVAL_INPUT, hooks=hooks, every_n_iter=every, design=design
    )


def train_once(
    row, hidden, steps, every, model_dir, eval_hook, measure_own=True, measure_memory=False
):
    """One fresh training of `steps` steps; returns (hook, step timer)."""
    estimator = make_estimator(hidden, model_dir)
    timer = StepTimer()
    hook = make_hook(row, estimator, every, eval_hook)
    if hook is not None:
        hook.measure_own, hook.measure_memory = measure_own, measure_memory
    estimator.train(TRAIN_INPUT, max_steps=steps, hooks=[timer] + ([hook] if hook else []))
    if hook is not None and not row.startswith("stock"):
        assert hook._design_used == row.partition("+")[0], (hook._design_used, row)
    return hook, timer


def window(hook, timer) -> tuple[float, int, float]:
    """(seconds from the 2nd training step's start to the last one's, evaluations between,
    CPU seconds of the process (all threads) over the same window)."""
    first, last = timer.starts[1], timer.starts[-1]
    evaluations = sum(first <= at < last for at in hook.at) if hook else 0
    return last - first, evaluations, timer.cpu_starts[-1] - timer.cpu_starts[1]


def ms(values) -> float:
    return 1000 * statistics.median(values) if values else float("nan")


def spread(values) -> str:
    return f"{1000 * min(values):.2f}-{1000 * max(values):.2f}" if values else "-"


def loop(label: str, runs: int, steps: int, every: int, eval_hook: bool, rows) -> None:
    hidden = MODELS[label]
    per_eval = {row: [] for row in rows}  # ms of each evaluation
    step_s = {row: [] for row in rows}
    windows = {row: [] for row in rows}  # per run: (seconds, evaluations)
    own, own_cpu = [], []
    with tempfile.TemporaryDirectory() as root:
        for run in range(runs):
            order = rows[run % len(rows) :] + rows[: run % len(rows)]
            for row in order:
                hook, timer = train_once(row, hidden, steps, every, f"{root}/{row}{run}", eval_hook)
                step_s[row] += timer.seconds[1:]
                windows[row].append(window(hook, timer))
                if hook is not None:
                    per_eval[row] += hook.seconds[1:]
                    own += hook.own[1:]
                    own_cpu += hook.own_cpu[1:]
    none_s = [seconds for seconds, _, _ in windows["none"]]
    none_median = statistics.median(none_s)
    none_cpu = statistics.median(cpu for _, _, cpu in windows["none"])
    own_s, own_cpu_s = statistics.median(own), statistics.median(own_cpu)
    print(
        f"\n{label}: {n_params(hidden):,} parameters ({n_params(hidden) * 4 / 2**20:.1f} MB); "
        f"{runs} fresh trainings per row of {steps} steps, evaluating every {every} "
        f"(eval hook on every row: {eval_hook}); own compute {ms(own):.2f} ms "
        f"(spread {spread(own)}); training step without a hook {ms(step_s['none']):.2f} ms; "
        f"no-hook window {1000 * none_median:.1f} ms (runs {spread(none_s)}). CPU time "
        f"(all threads; less sensitive to other processes): own compute {ms(own_cpu):.2f} ms"
    )
    print(
        "row | ms/evaluation | train step ms | loop charge ms/eval (median of runs; "
        f"min-max) | charge/own | over own: (charge - own)/own | goal <= {GOAL}x | "
        "CPU: loop charge ms/eval (min-max) | CPU over own"
    )
    for row in rows:
        if row == "none":
            continue
        # Per run: its window minus the median no-hook window, per evaluation in it.
        charges = [(seconds - none_median) / n for seconds, n, _ in windows[row] if n]
        charge = statistics.median(charges)
        over = (charge - own_s) / own_s
        cpu_charges = [(cpu - none_cpu) / n for _, n, cpu in windows[row] if n]
        cpu_charge = statistics.median(cpu_charges)
        print(
            " | ".join(
                [
                    row,
                    f"{ms(per_eval[row]):.2f}",
                    f"{ms(step_s[row]):.2f}",
                    f"{1000 * charge:.2f} ({spread(charges)})",
                    f"{charge / own_s:.3f}",
                    (
                        f"{over:+.3f} ({(min(charges) - own_s) / own_s:+.3f} to "
                        f"{(max(charges) - own_s) / own_s:+.3f})"
                    ),
                    "yes" if over <= GOAL else "NO",
                    f"{1000 * cpu_charge:.2f} ({spread(cpu_charges)})",
                    f"{(cpu_charge - own_cpu_s) / own_cpu_s:+.3f}",
                ]
            ),
            flush=True,
        )


def repeated(label: str, trainings: int, steps: int, every: int, eval_hook: bool, rows) -> None:
    """Identical fresh trainings in one process: loop time per (steps + evaluation)."""
    hidden = MODELS[label]
    print(
        f"\n{trainings} identical fresh trainings of {label} in one process, {steps} steps, "
        f"evaluating every {every}: per training, ms per evaluation window (the loop from "
        "the 2nd step's start to the last's, over the evaluations in it), and max/min"
    )
    with tempfile.TemporaryDirectory() as root:
        for row in rows:
            if row == "none":
                continue
            values = []
            for i in range(trainings):
                hook, timer = train_once(
                    row, hidden, steps, every, f"{root}/{row}{i}", eval_hook, False
                )
                seconds, n, _ = window(hook, timer)
                values.append(seconds / n)
            cells = " / ".join(f"{1000 * v:.1f}" for v in values)
            print(f"{row} | {cells} | max/min {max(values) / min(values):.3f}", flush=True)


def soak(evaluations: int) -> None:
    hidden = MODELS["11k"]
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for design in ("in_place", "copy"):
            hook, _ = train_once(
                design, hidden, evaluations - 1, 1, f"{root}/{design}", False, measure_memory=True
            )
            rows.append((design, hook.seconds, hook.rss, hook.ops))
    print(f"\nsoak, 11k model: {evaluations} evaluations per design")
    print("what | RSS growth KB/eval (2nd half) | first 10% ms | last 10% ms | ops first / last")
    for what, seconds, rss, ops in rows:
        k = max(1, len(seconds) // 10)
        half = rss[len(rss) // 2 :]
        slope = float(np.polyfit(np.arange(len(half)), np.asarray(half, float), 1)[0]) / 1024
        print(
            f"{what} | {slope:.3f} | {ms(seconds[1 : k + 1]):.3f} | {ms(seconds[-k:]):.3f} | "
            f"{ops[0]} / {ops[-1]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=["loop", "repeated", "soak"], default=None)
    parser.add_argument("--sizes", default="11k,5M,50M", help="of " + ", ".join(MODELS))
    parser.add_argument("--rows", default=",".join(ROWS), help="of " + ", ".join(ROWS))
    parser.add_argument("--runs", type=int, default=5, help="fresh trainings per row and size")
    parser.add_argument("--steps", type=int, default=40, help="training steps per training")
    parser.add_argument("--every", type=int, default=4, help="evaluate every n steps")
    parser.add_argument(
        "--eval-hook", action="store_true", help="give every row's hook an eval hook"
    )
    parser.add_argument("--trainings", type=int, default=4, help="repeated: fresh trainings")
    parser.add_argument("--soak", type=int, default=1000, help="evaluations per design, 11k")
    args = parser.parse_args()
    rows = tuple(args.rows.split(","))
    assert rows[0] == "none" and set(rows) <= set(ROWS), rows
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.2f}; medians (the first evaluation of each training, before "
        "training starts, is left out of ms/evaluation)",
        flush=True,
    )
    if args.only in (None, "loop"):
        for label in args.sizes.split(","):
            loop(label, args.runs, args.steps, args.every, args.eval_hook, rows)
    if args.only in (None, "repeated"):
        repeated("50M", args.trainings, args.steps // 2, args.every, args.eval_hook, rows)
    if args.only == "soak":
        soak(args.soak)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
