"""Benchmark: a local parameter-server cluster against one process; its end; a resume; the lag.

    python estimator_inmemory/benchmarks/cluster.py [--max-steps 3000 --repeats 3]

Runs the fixture project (estimator_inmemory/tests/fixture_project, put on PYTHONPATH here)
with the estimator_inmemory this Python imports. Each repeat trains the same config, each
run timed from start to exit as a user sees it:

- in-memory evaluation in one process (the default), and `evaluator=checkpoint` in one
  process (`python -m fixture_project.train`);
- the launcher (`project.cluster`: chief, workers, one ps, evaluator as processes); its
  idle tail: from the evaluator's final `eval step` line to the launcher's exit;
- that cluster resumed for `--resume-steps` more: how long its worker waits between its
  `train_and_evaluate as worker` line and its first training step (its `ran its first
  training step` line).

Then medians, and for the last cluster run each evaluation's checkpoint step against the
newest checkpoint when it ended: the evaluation lag.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"  # the fixture project's home
LAUNCHER = "import sys; from fixture_project.train import cluster; sys.exit(cluster(sys.argv[1:]))"
LAG = re.compile(r"evaluated checkpoint (\d+); newest checkpoint: (\d+)")


def environment() -> dict:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return env


def timed(command: list[str]) -> tuple[float, list[tuple[float, str]]]:
    """Seconds from start to exit, and each output line with the second it arrived."""
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    lines: list[tuple[float, str]] = []

    def read() -> None:
        for line in process.stdout:
            lines.append((time.monotonic() - start, line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    code = process.wait()
    seconds = time.monotonic() - start
    reader.join(timeout=10)
    if code != 0:
        tail = "\n".join(line for _, line in lines[-60:])
        sys.exit(f"failed ({code}): {' '.join(command)}\n{tail}")
    return seconds, lines


def first(lines: list[tuple[float, str]], pattern: str) -> float:
    return next(t for t, line in lines if re.search(pattern, line))


def last(lines: list[tuple[float, str]], pattern: str) -> float:
    return [t for t, line in lines if re.search(pattern, line)][-1]


def final_evaluation(model_dir: Path) -> dict:
    return json.loads((model_dir / "evaluations.jsonl").read_text().splitlines()[-1])


def median(values: list[float]) -> str:
    shown = ", ".join(f"{v:.1f}" for v in values)
    return f"{statistics.median(values):6.1f}  ({shown})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--resume-steps", type=int, default=1000)
    parser.add_argument("--save-checkpoints-steps", type=int, default=500)
    parser.add_argument("--throttle-secs", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    common = [
        f"trainer.max_steps={args.max_steps}",
        f"trainer.save_checkpoints_steps={args.save_checkpoints_steps}",
    ]
    checkpoint = ["evaluator=checkpoint", f"evaluator.throttle_secs={args.throttle_secs}"]
    train = [sys.executable, "-m", "fixture_project.train"]
    cluster = [sys.executable, "-c", LAUNCHER, "--workers", str(args.workers), "--ps", "1"]
    walls: dict[str, list[float]] = {"in_memory": [], "one": [], "cluster": [], "resumed": []}
    tails, waits, finals = [], [], {}
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as scratch:
            runs = Path(scratch)
            for name, command in (
                ("in_memory", [*train, *common, f"hydra.run.dir={runs / 'in_memory'}"]),
                ("one", [*train, *common, *checkpoint, f"hydra.run.dir={runs / 'one'}"]),
            ):
                seconds, _ = timed(command)
                walls[name].append(seconds)
                finals[name] = final_evaluation(runs / name)
            seconds, lines = timed([*cluster, *common, *checkpoint, f"model_dir={runs / 'c'}"])
            walls["cluster"].append(seconds)
            finals["cluster"] = final_evaluation(runs / "c")
            tails.append(seconds - last(lines, r"\[evaluator:0\] .*eval step \d+:"))
            cluster_lines = lines
            more = f"trainer.max_steps={args.max_steps + args.resume_steps}"
            seconds, lines = timed(
                [*cluster, *common[1:], more, *checkpoint, f"model_dir={runs / 'c'}"]
            )
            walls["resumed"].append(seconds)
            waits.append(
                first(lines, r"\[worker:0\] .*ran its first training step")
                - first(lines, r"\[worker:0\] .*train_and_evaluate as worker")
            )
            print(f"repeat {repeat + 1}/{args.repeats} done", file=sys.stderr, flush=True)

    print(
        f"max_steps={args.max_steps} save_checkpoints_steps={args.save_checkpoints_steps} "
        f"throttle_secs={args.throttle_secs} workers={args.workers} repeats={args.repeats}"
    )
    print(f"{'run':<58} {'median wall s (each)':<26} {'final step':>10} {'accuracy':>8}")
    names = {
        "in_memory": "in-memory, one process",
        "one": "checkpoint, one process",
        "cluster": f"checkpoint, cluster (chief + {args.workers} worker + 1 ps + evaluator)",
    }
    for key, name in names.items():
        final = finals[key]
        print(f"{name:<58} {median(walls[key]):<26} {final['step']:10d} {final['accuracy']:8.4f}")
    print(
        f"{'cluster resumed for ' + str(args.resume_steps) + ' more steps':<58} {median(walls['resumed'])}"
    )
    print(f"\ncluster's idle tail (final evaluation to exit), s: {median(tails)}")
    print(f"resumed cluster: worker's wait for its first training step, s: {median(waits)}")
    lags = [(int(a), int(b)) for a, b in LAG.findall("\n".join(line for _, line in cluster_lines))]
    print("\nlast cluster run's evaluations: checkpoint step -> newest checkpoint (lag)")
    for evaluated, newest in lags:
        print(f"  {evaluated:6d} -> {newest:6d}  lag {newest - evaluated:5d} steps")
    values = [newest - evaluated for evaluated, newest in lags]
    written = args.max_steps // args.save_checkpoints_steps + 1  # and the one at step 0
    print(
        f"lag: mean {statistics.mean(values):.0f} steps, max {max(values)} steps; "
        f"{len(values)} evaluations of about {written} checkpoints written (the evaluator "
        "takes the newest and skips the rest)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
