"""Benchmark: the time progress display and learning-curve plotting add to a default run.

    tox -e bench-progress            # installs the library with TensorFlow, runs this
    python estimator_inmemory/benchmarks/progress.py [--repeats 5] [--terminal]
                                     # with estimator-inmemory[all,test] installed

Each run is a fresh process training the library's fixture project (tests/fixture_project,
a generated project in miniature: the digits DNN) with the default config (1000 steps, an
evaluation every 100 steps, SavedModel export) through `project.train(cfg, run_dir)`, as
`<slug>-train` would: once
as shipped ("with": ProgressHook, learning_curves.png) and once without (the hook replaced by
a bare SessionRunHook, no painting process started, no picture), alternating, `--repeats`
times each. It prints every run's process wall time and `train()` time (TensorFlow's
import included: train() imports it, as <slug>-train does), the medians, the
ratio with/without, and the time the training process spent on the picture: reading the
losses and handing them over (`paint`), and waiting for the painting process to finish
(`wait`; it imported matplotlib while the run trained, and draws while the run exports).
`--terminal` gives the runs a pseudo-terminal, so "with" draws the live bar instead of log lines.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pty
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

# The library's fixture project (tests/fixture_project): a generated project in miniature.
TESTS = Path(__file__).resolve().parent.parent / "tests"


def one_run(mode: str, run_dir: Path) -> None:
    """In the child process: train the default config, with or without; print timings."""
    sys.path.insert(0, str(TESTS))
    from estimator_inmemory import console, plots, training

    console.quiet_tensorflow()
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    from fixture_project.train import project

    cfg = project.compose()
    timings = {"plot_s": 0.0}
    if mode == "without":
        # TensorFlow is imported inside train(), as the entry point imports it (the painting
        # process starts before that import): patch the progress hook once it is loaded.
        load_tensorflow = training._load_tensorflow

        def load_then_patch(runtime):
            load_tensorflow(runtime)
            import tensorflow as tf

            from estimator_inmemory import progress

            class NoProgress(tf.estimator.SessionRunHook):
                def __init__(self, *args, **kwargs):
                    pass

                def on_evaluation(self, evaluation):
                    pass

            progress.ProgressHook = NoProgress

        training._load_tensorflow = load_then_patch

        class NoPainter:
            def __init__(self, *args, **kwargs):
                pass

            def paint(self, model_dir, path, *args, **kwargs):
                self.path = path

            def wait(self):
                return self.path

            def __enter__(self):
                return self

            def __exit__(self, *exc_info):
                pass

        plots.Painter = NoPainter  # train() imports it from plots when it starts
    else:

        class TimedPainter(plots.Painter):
            def paint(self, *args, **kwargs):
                started = time.perf_counter()
                try:
                    return super().paint(*args, **kwargs)
                finally:
                    timings["plot_s"] += time.perf_counter() - started

            def wait(self):
                started = time.perf_counter()
                try:
                    return super().wait()
                finally:
                    timings["plot_s"] += time.perf_counter() - started

        plots.Painter = TimedPainter
    started = time.perf_counter()
    project.train(cfg, run_dir)
    timings["train_s"] = time.perf_counter() - started
    print("TIMINGS " + json.dumps(timings), file=sys.stderr, flush=True)


def spawn(mode: str, run_dir: Path, terminal: bool) -> dict:
    """Run one child; return its process wall time and the timings it printed."""
    command = [sys.executable, __file__, "--child", mode, str(run_dir)]
    started = time.perf_counter()
    if not terminal:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        output, code = done.stderr, done.returncode
    else:
        controller, child_end = pty.openpty()
        env = {**os.environ, "COLUMNS": "160", "LINES": "40"}
        process = subprocess.Popen(command, stdout=child_end, stderr=child_end, env=env)
        os.close(child_end)
        chunks: list[bytes] = []

        def drain():
            while True:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:
                    return
                if not chunk:
                    return
                chunks.append(chunk)

        reader = threading.Thread(target=drain)
        reader.start()
        code = process.wait()
        reader.join()
        os.close(controller)
        output = b"".join(chunks).decode(errors="replace")
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{mode} run failed ({code}):\n{output[-3000:]}")
    line = next(line for line in output.splitlines() if line.startswith("TIMINGS "))
    return {"wall_s": wall, **json.loads(line.removeprefix("TIMINGS "))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--terminal", action="store_true", help="runs get a pseudo-terminal")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "RUN_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        one_run(args.child[0], Path(args.child[1]))
        return 0

    results: dict[str, list[dict]] = {"with": [], "without": []}
    display = "live bar (pseudo-terminal)" if args.terminal else "log lines (no terminal)"
    print(
        f"default config: 1000 steps, eval every 100; progress as {display}; cores: {os.cpu_count()}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        spawn("with", Path(scratch) / "warm-up", args.terminal)  # page cache, .pyc files
        for repeat in range(args.repeats):
            order = ("with", "without") if repeat % 2 == 0 else ("without", "with")
            for mode in order:
                run = spawn(mode, Path(scratch) / f"{mode}-{repeat}", args.terminal)
                results[mode].append(run)
                print(
                    f"  {mode:8s} #{repeat}: process {run['wall_s']:6.2f} s  "
                    f"train() {run['train_s']:6.2f} s  picture {run['plot_s']:5.2f} s",
                    flush=True,
                )
    print()
    medians = {}
    for mode, runs in results.items():
        medians[mode] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        print(
            f"median {mode:8s}: process {medians[mode]['wall_s']:6.2f} s  "
            f"train() {medians[mode]['train_s']:6.2f} s  picture {medians[mode]['plot_s']:5.2f} s"
            # The spread says how far to trust a small ratio: a noisy machine moves runs by 1 s+.
            f"  (process spread {min(r['wall_s'] for r in runs):.2f}-"
            f"{max(r['wall_s'] for r in runs):.2f} s)"
        )
    for key, what in (("wall_s", "process"), ("train_s", "train()")):
        ratio = medians["with"][key] / medians["without"][key]
        print(f"{what}: with/without = {ratio:.4f} ({(ratio - 1) * 100:+.2f} %; goal < +2 %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
