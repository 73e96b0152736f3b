"""Benchmark: a local parameter-server cluster against one process, and the evaluation lag.

    tox -e bench-cluster [-- --max-steps 5000 --workers 1]   # bakes, installs, runs this

With the default project installed in this Python, it trains the same config three ways,
each timed from start to exit as a user would see it: in-memory evaluation (the default),
`evaluator=checkpoint` in one process, and `python -m <package>.cluster` (chief, workers,
one ps, evaluator). It prints the wall times and final accuracies, and for the cluster each
evaluation's checkpoint step against the newest checkpoint on disk when that evaluation
ended: the evaluation lag, in steps, and the checkpoints the evaluator skipped.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGE = "digits_estimator"
LAG = re.compile(r"evaluated checkpoint (\d+); newest checkpoint: (\d+)")


def timed(command: list[str]) -> tuple[float, str]:
    start = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def final_evaluation(model_dir: Path) -> dict:
    return json.loads((model_dir / "evaluations.jsonl").read_text().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-steps", type=int, default=5000)
    parser.add_argument("--save-checkpoints-steps", type=int, default=500)
    parser.add_argument("--throttle-secs", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    common = [
        f"trainer.max_steps={args.max_steps}",
        f"trainer.save_checkpoints_steps={args.save_checkpoints_steps}",
    ]
    checkpoint = ["evaluator=checkpoint", f"evaluator.throttle_secs={args.throttle_secs}"]
    train = [sys.executable, "-m", f"{PACKAGE}.train"]
    with tempfile.TemporaryDirectory() as scratch:
        runs = Path(scratch)
        rows = []
        for name, command, model_dir in [
            (
                "in-memory, one process",
                [*train, *common, f"hydra.run.dir={runs / 'in_memory'}"],
                runs / "in_memory",
            ),
            (
                "checkpoint, one process",
                [*train, *common, *checkpoint, f"hydra.run.dir={runs / 'one'}"],
                runs / "one",
            ),
            (
                f"checkpoint, cluster (chief + {args.workers} worker + 1 ps + evaluator)",
                [
                    *(sys.executable, "-m", f"{PACKAGE}.cluster"),
                    *("--workers", str(args.workers), "--ps", "1"),
                    *common,
                    *checkpoint,
                    f"model_dir={runs / 'cluster'}",
                ],
                runs / "cluster",
            ),
        ]:
            seconds, output = timed(command)
            final = final_evaluation(model_dir)
            rows.append((name, seconds, final, output))

    print(
        f"max_steps={args.max_steps} save_checkpoints_steps={args.save_checkpoints_steps} "
        f"throttle_secs={args.throttle_secs}"
    )
    print(f"{'run':<62} {'wall s':>7} {'final step':>10} {'accuracy':>8}")
    for name, seconds, final, _ in rows:
        print(f"{name:<62} {seconds:7.1f} {final['step']:10d} {final['accuracy']:8.4f}")
    lags = [(int(a), int(b)) for a, b in LAG.findall(rows[-1][3])]
    print("\ncluster evaluations: checkpoint step -> newest checkpoint when evaluated (lag)")
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
