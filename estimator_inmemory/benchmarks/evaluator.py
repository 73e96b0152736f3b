"""Benchmark: our InMemoryEvaluatorHook's two designs against TensorFlow's, in one process.

    tox -e bench        # bakes the default project, installs it, runs this with its Python

Designs: "in_place" (the eval graph imported into the training graph, run on the training
variables in the training session: no copy) and "copy" (a separate eval session; each
evaluation fetches the training variables and assigns them into it). For MLPs of about
11k, 5M and 50M parameters (evaluation set: 2 batches of 32), every step evaluated:

1. per design: time per evaluation, its breakdown (fetch of the training variables, load
   into the eval session, the eval pass itself), the evaluation's own compute (a bare pass
   over the eval batches in the copy design's open eval session, weights in place, timed
   right after each of its evaluations), the overhead (time minus
   own compute) against the issue's goals (<= 0.15x own compute at 5M and 50M, <= 0.5 ms
   at 11k), the training step time with each hook and without one, the whole loop's
   charge per evaluation (time per training step + evaluation, minus time per training
   step without a hook: what the hook costs the run, work on other threads included),
   `estimator.evaluate()` from a checkpoint, and the ops each hook adds per evaluation;
2. per-evaluation time over repeated `estimator.train` calls in one process (50M);
3. 1000 evaluations (11k) per design: first against last 10% of evaluation times, RSS
   slope, ops in the graph the evaluation runs in.

The machine may be shared: run it twice and compare before trusting a small difference.
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
from digits_estimator.inmemory import InMemoryEvaluatorHook
from mlp import BATCH, input_fn, model_fn, n_params

tf.get_logger().setLevel("ERROR")

MODELS = {"11k": [40], "5M": [2048, 2048], "50M": [4096, 4096, 4096, 4096]}
GOALS = {"11k": ("ms", 0.5), "5M": ("x", 0.15), "50M": ("x", 0.15)}
DESIGNS = ("in_place", "copy")
PAGE = os.sysconf("SC_PAGE_SIZE")
STOCK = tf.estimator.experimental.InMemoryEvaluatorHook


TRAIN_INPUT = input_fn(1024, repeat=True, seed=0)
EVAL_INPUT = input_fn(2 * BATCH, repeat=False, seed=1)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def _timed_call(fn, bucket: list):
    def call(*args):
        start = time.perf_counter()
        result = fn(*args)
        bucket.append(time.perf_counter() - start)
        return result

    return call


class StepTimer(tf.estimator.SessionRunHook):
    """Wall time of each training step (first in the hook list: evaluations run after it)."""

    def __init__(self):
        self.seconds, self.cpu, self.starts = [], [], []

    def before_run(self, run_context):
        self._start, self._cpu = time.perf_counter(), time.process_time()
        self.starts.append(self._start)

    def after_run(self, run_context, run_values):
        self.seconds.append(time.perf_counter() - self._start)
        self.cpu.append(time.process_time() - self._cpu)


def timed(hook_cls):
    """A subclass recording each evaluation's duration, breakdown, RSS and graph size."""

    class Timed(hook_cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seconds, self.cpu, self.rss, self.ops = [], [], [], []
            self.parts = {"fetch": [], "load": [], "run": []}
            # copy: a bare pass right after each evaluation, weights in place (wall, CPU)
            self.own, self.own_cpu = [], []
            self.kept = None
            self.measure_own = True

        def _close_eval_session(self):
            if hook_cls is STOCK:
                return
            if self._eval is not None and self._eval.design == "copy":
                self.kept = self._eval  # kept open: bare_passes() times passes in it
                self._eval = None
            super()._close_eval_session()

        def after_create_session(self, session, coord):
            if hook_cls is not STOCK:
                evaluation = self._eval
                evaluation.run = _timed_call(evaluation.run, self.parts["run"])
                if evaluation.design == "copy":
                    evaluation.load = _timed_call(evaluation.load, self.parts["load"])
                    real_start = evaluation.start

                    def start(train_session):
                        real_start(train_session)
                        evaluation.fetch = _timed_call(evaluation.fetch, self.parts["fetch"])

                    evaluation.start = start
            super().after_create_session(session, coord)

        def _evaluate(self, *args):
            start, cpu = time.perf_counter(), time.process_time()
            super()._evaluate(*args)
            self.seconds.append(time.perf_counter() - start)
            self.cpu.append(time.process_time() - cpu)
            if hook_cls is not STOCK and self._eval.design == "copy" and self.measure_own:
                start, cpu = time.perf_counter(), time.process_time()
                self._eval.run()
                self.own.append(time.perf_counter() - start)
                self.own_cpu.append(time.process_time() - cpu)
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


def run_hook(design, hidden, evaluations: int, model_dir: str, measure_own: bool = True):
    """Train evaluations-1 steps, evaluating at every step; design None: no hook."""
    estimator = make_estimator(hidden, model_dir)
    steps = StepTimer()
    hooks = [steps]
    hook = None
    if design == "stock":
        hook = timed(STOCK)(estimator, EVAL_INPUT, every_n_iter=1)
    elif design is not None:
        hook = timed(InMemoryEvaluatorHook)(estimator, EVAL_INPUT, every_n_iter=1, design=design)
    if hook is not None:
        hook.measure_own = measure_own
        hooks.append(hook)
    estimator.train(TRAIN_INPUT, max_steps=evaluations - 1, hooks=hooks)
    if hook is not None and design != "stock":
        assert hook._design_used == design, (hook._design_used, design)
    return estimator, hook, steps


def bare_passes(hook, repeats: int) -> tuple[list[float], list[int]]:
    """The evaluation's own work: the eval graph, run in its open session, weights in place."""
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
    return 1000 * statistics.median(values) if values else 0.0


def growth(ops: list[int]) -> float:
    return (ops[-1] - ops[0]) / (len(ops) - 1)


def _time(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def goal_text(label: str, overhead: float, own: float) -> str:
    kind, limit = GOALS[label]
    if kind == "ms":
        return f"{overhead:.2f} ms <= {limit} ms: {'yes' if overhead <= limit else 'NO'}"
    ratio = overhead / own
    return f"{ratio:.3f}x <= {limit}x: {'yes' if ratio <= limit else 'NO'}"


def compare(label: str, hidden: list[int], n: int, rounds: int) -> None:
    """Each design `rounds` times, interleaved (a shared machine's load hits all alike)."""
    names = ["none", "in_place", "copy", "stock"]
    seconds = {name: [] for name in names}
    cpu = {name: [] for name in names}
    steps_cpu = {name: [] for name in names}
    parts = {name: {"fetch": [], "load": [], "run": []} for name in DESIGNS}
    steps = {name: [] for name in names}
    ops = {name: [] for name in names}
    loop = {name: [] for name in names}  # per run: mean time from one step's start to the next
    own, own_cpu = [], []
    with tempfile.TemporaryDirectory() as root:
        for round_ in range(rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                if name == "stock" and round_:
                    continue  # slow, and only a reference: one round
                model_dir = f"{root}/{name}{round_}"
                estimator, hook, timer = run_hook(
                    None if name == "none" else name, hidden, n, model_dir
                )
                steps[name] += timer.seconds[1:]
                steps_cpu[name] += timer.cpu[1:]
                # From step 1 on: every step is followed by one evaluation (but the last).
                loop[name].append((timer.starts[-1] - timer.starts[1]) / (len(timer.starts) - 2))
                if hook is None:
                    continue
                seconds[name] += hook.seconds[1:]
                cpu[name] += hook.cpu[1:]
                ops[name].append(growth(hook.ops))
                if name in DESIGNS:
                    for part, values in hook.parts.items():
                        parts[name][part] += values[1:]
                if name == "copy":
                    own += hook.own[1:]
                    own_cpu += hook.own_cpu[1:]
                    hook.kept.close()
                    checkpoint = tf.train.latest_checkpoint(model_dir)
        evaluate = [
            _time(lambda: estimator.evaluate(EVAL_INPUT, checkpoint_path=checkpoint))
            for _ in range(3)
        ]
    own_ms, step_ms = ms(own), ms(steps["none"])
    own_cpu_ms, step_cpu_ms = ms(own_cpu), ms(steps_cpu["none"])
    print(
        f"\n{label}: {n_params(hidden):,} parameters ({n_params(hidden) * 4 / 2**20:.1f} MB), "
        f"{rounds} rounds of {n} evaluations per design (stock: 1 round); own compute "
        f"{own_ms:.2f} ms; estimator.evaluate() from a checkpoint {ms(evaluate):.1f} ms; "
        f"training step without a hook {step_ms:.2f} ms. CPU time (all threads), less "
        f"sensitive to other processes: own compute {own_cpu_ms:.2f} ms, training step "
        f"{step_cpu_ms:.2f} ms"
    )
    print(
        "hook | ms/eval | fetch | load | run | overhead ms | overhead/own | goal | "
        "train step ms | step - no-hook step | loop charge ms/eval | (charge - own)/own | "
        "CPU ms/eval | CPU overhead/own | CPU step - no-hook step | ops/eval"
    )
    for name in ("stock", *DESIGNS):
        per_eval = ms(seconds[name])
        overhead = per_eval - own_ms
        shown_parts = (
            ["-", "-", "-"]
            if name == "stock"
            else [f"{ms(parts[name][p]):.2f}" for p in ("fetch", "load", "run")]
        )
        train_step = ms(steps[name])
        charge = ms(loop[name]) - ms(loop["none"])
        print(
            " | ".join(
                [
                    name,
                    f"{per_eval:.2f}",
                    *shown_parts,
                    f"{overhead:.2f}",
                    f"{overhead / own_ms:.3f}",
                    "-" if name == "stock" else goal_text(label, overhead, own_ms),
                    f"{train_step:.2f}",
                    f"{train_step - step_ms:+.2f}",
                    f"{charge:.2f}",
                    f"{(charge - own_ms) / own_ms:.3f}",
                    f"{ms(cpu[name]):.2f}",
                    f"{(ms(cpu[name]) - own_cpu_ms) / own_cpu_ms:.3f}",
                    f"{ms(steps_cpu[name]) - step_cpu_ms:+.2f}",
                    f"{max(ops[name]):.1f}",
                ]
            ),
            flush=True,
        )


def repeated_trainings(label: str, calls: int, steps_per_call: int) -> None:
    """Per-evaluation time over several estimator.train calls in one process."""
    hidden = MODELS[label]
    print(
        f"\nrepeated estimator.train calls, {label}: {calls} calls of {steps_per_call} steps, "
        "every step evaluated (per call: median ms per evaluation / whole call s)"
    )
    with tempfile.TemporaryDirectory() as root:
        for design in (*DESIGNS, None):
            estimator = make_estimator(hidden, f"{root}/{design}")
            hook = None
            if design is not None:
                hook = timed(InMemoryEvaluatorHook)(
                    estimator, EVAL_INPUT, every_n_iter=1, design=design
                )
                hook.measure_own = False
            cells = []
            for call in range(1, calls + 1):
                before = len(hook.seconds) if hook else 0
                start = time.perf_counter()
                estimator.train(
                    TRAIN_INPUT, max_steps=call * steps_per_call, hooks=[hook] if hook else []
                )
                seconds = time.perf_counter() - start
                per_eval = f"{ms(hook.seconds[before:]):.1f} ms / " if hook else ""
                cells.append(f"{per_eval}{seconds:.2f} s")
                if hook is not None and hook.kept is not None:
                    hook.kept.close()
                    hook.kept = None
            print(f"{design or 'no hook'} | " + " | ".join(cells), flush=True)


def soak(evaluations: int, stock_evaluations: int) -> None:
    hidden = MODELS["11k"]
    rows = []
    with tempfile.TemporaryDirectory() as root:
        for design in DESIGNS:
            _, hook, _ = run_hook(design, hidden, evaluations, f"{root}/{design}", False)
            rows.append((design, hook.seconds, hook.rss, hook.ops))
            if design == "copy":
                bare_seconds, bare_rss = bare_passes(hook, evaluations)
                rows.append(("bare pass", bare_seconds, bare_rss, None))
        _, stock, _ = run_hook("stock", hidden, stock_evaluations, f"{root}/stock")
        rows.append(("stock", stock.seconds, stock.rss, stock.ops))
    print(f"\nsoak, 11k model: {evaluations} evaluations per design (stock: {stock_evaluations})")
    print("what | RSS growth KB/eval (2nd half) | first 10% ms | last 10% ms | ops first / last")
    for what, seconds, rss, ops in rows:
        k = max(1, len(seconds) // 10)
        print(
            f"{what} | {slope_kb(rss):.3f} | {ms(seconds[1 : k + 1]):.3f} | "
            f"{ms(seconds[-k:]):.3f} | " + (f"{ops[0]} / {ops[-1]}" if ops else "-")
        )
    print(
        "(in_place: ops counted in the training graph, which holds the evaluation; copy: in "
        "its eval graph; stock: in its eval graph)"
    )
    entry = {"accuracy": 0.5, "loss": 1.0, "global_step": 1}
    entry_bytes = sys.getsizeof(entry) + sum(map(sys.getsizeof, entry.values())) + 32
    print(f"ours keeps every result in .history by design: ~{entry_bytes} bytes per evaluation")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluations", type=int, default=20, help="per hook, size, round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved runs per design")
    parser.add_argument("--soak", type=int, default=1000, help="evaluations per design, 11k")
    parser.add_argument("--stock-soak", type=int, default=300, help="the stock hook's")
    parser.add_argument("--calls", type=int, default=4, help="estimator.train calls, 50M")
    parser.add_argument("--only", choices=["compare", "repeated", "soak"], default=None)
    args = parser.parse_args()
    print(
        f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs; per-evaluation medians (the "
        "first evaluation of each run is warm-up and left out). fetch/load/run: the copy "
        "design's three parts; in_place has only run (in the training session)."
    )
    if args.only in (None, "compare"):
        for label, hidden in MODELS.items():
            n = args.evaluations if label != "50M" else max(6, args.evaluations // 3)
            compare(label, hidden, n, args.rounds)
    if args.only in (None, "repeated"):
        repeated_trainings("50M", args.calls, 5)
    if args.only in (None, "soak"):
        soak(args.soak, args.stock_soak)


if __name__ == "__main__":
    main()
