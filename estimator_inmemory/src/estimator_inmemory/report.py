"""Compare runs: a table of run folders or a sweep's job folders, and one comparison picture.

    <slug>-report outputs/2024-01-01/12-00-00 outputs/2024-01-02/09-30-00
    <slug>-report multirun/2024-01-01/12-00-00      # a sweep: also writes comparison.png
    python -m estimator_inmemory.report ...          # the same, without a project

One row per run: its folder, its overrides, the best monitored value and its step, the final
metrics, the wall time, and for a run that did not finish (a failed job of a sweep) the
error it logged. Reads only files (no TensorFlow), so it answers at once, also while a sweep
is still running. Exit status: 0 when every run finished, 1 when one did not, 2 when a path
holds no run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import records


def build_table(found: list[records.Run]):
    """The report as a rich Table."""
    from rich.table import Table

    metric_names = sorted(
        {name for run in found if run.finished for name in run.result.get("metrics", {})}
    )
    monitor = next((run.best.get("monitor") for run in found if run.finished), "accuracy")
    # Overrides every run shares go in the caption; the rows show what differs.
    shared, own_overrides = records.split_overrides(found)
    parent = _common_parent([run.path for run in found])
    table = Table(
        title=f"{len(found)} runs in {parent}, best {monitor}",
        caption=f"all runs: {' '.join(shared)}" if shared else None,
    )
    table.add_column("run", overflow="fold")
    table.add_column("overrides", overflow="fold")
    table.add_column(f"best {monitor}", justify="right")
    table.add_column("at step", justify="right")
    for name in metric_names:
        table.add_column(f"final {name}", justify="right")
    table.add_column("wall time", justify="right")
    table.add_column("status", overflow="fold")
    for run, own in zip(found, own_overrides):
        differing = " ".join(own)
        if run.finished:
            best, metrics = run.best, run.result.get("metrics", {})
            cells = [
                _number(best.get("value")),
                _step(best.get("step")),
                *(_number(metrics.get(name)) for name in metric_names),
                f"{run.result.get('wall_time_s', 0):.1f} s",
                "finished",
            ]
        else:
            status = "FAILED" + (f": {run.error}" if run.error else " (no result.json)")
            cells = ["-", "-", *("-" for _ in metric_names), "-", f"[red]{status}[/red]"]
        table.add_row(_relative(run.path, parent), differing or "-", *cells)
    return table


def _common_parent(paths: list[Path]) -> Path:
    resolved = [path.resolve() for path in paths]
    if len(resolved) == 1:
        return resolved[0].parent
    return Path(os.path.commonpath(resolved))


def _relative(path: Path, parent: Path) -> str:
    return str(path.resolve().relative_to(parent))


def _number(value) -> str:
    return "-" if value is None else f"{value:.4g}"


def _step(value) -> str:
    return "-" if value is None else str(value)


def main(argv: list[str] | None = None, *, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="run folders or multirun folders")
    parser.add_argument(
        "--plot",
        type=Path,
        help="where to write the comparison picture (default: comparison.png in the "
        "multirun folder when one is given; none otherwise)",
    )
    args = parser.parse_args(argv)

    from rich.console import Console

    # Off a terminal rich would wrap the table at 80 columns: a log line is wider.
    console = Console(width=None if sys.stdout.isatty() else 200)
    missing = [path for path in args.paths if not path.exists()]
    if missing:
        print(f"error: no such folder: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    folders = records.find_runs(args.paths)
    if not folders:
        print(
            f"error: no run folder (one with .hydra/) in or under {', '.join(map(str, args.paths))}",
            file=sys.stderr,
        )
        return 2
    found = [records.read_run(folder) for folder in folders]
    console.print(build_table(found))
    failed = [run for run in found if not run.finished]
    for run in failed:
        console.print(f"failed job: {run.path}" + (f" ({run.error})" if run.error else ""))

    plot = args.plot
    sweeps = [path for path in args.paths if not records.is_run_folder(path)]
    if plot is None and len(args.paths) == 1 and sweeps:
        plot = sweeps[0] / "comparison.png"
    if plot is not None:
        from .plots import write_comparison

        console.print(f"comparison: {write_comparison(found, plot)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
