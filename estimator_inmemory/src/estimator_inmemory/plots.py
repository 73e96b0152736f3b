"""Pictures of runs: a run's learning curves, and a sweep's runs side by side.

matplotlib's object API with its Agg canvas (no pyplot, no display, no global state), so it
draws the same in Docker, CI and a desktop session.

A training run draws its picture through a `Painter`: a child process that imports
matplotlib while the run trains, on another core, and draws when training has ended while
the run exports its SavedModel. Importing matplotlib takes about 0.6 s, most of what the
picture would add to a default run if drawn in the training process (see the design note
at the end).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import files, records
from .errors import PaintingFailedError

LEARNING_CURVES = "learning_curves.png"
COMPARISON = "comparison.png"


def training_losses(model_dir: str) -> list[tuple[int, float]]:
    """(global step, training loss) from the Estimator's training event files in model_dir.

    TensorBoard's reader uses TensorFlow where it is installed: cheap in a process that
    has imported it, seconds in one that has not (the painting child gets the losses).
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(model_dir), size_guidance={"scalars": 0})  # 0: keep all
    events.Reload()
    if "loss" not in events.Tags().get("scalars", []):
        return []
    return [(event.step, event.value) for event in events.Scalars("loss")]


def write_learning_curves(
    model_dir: str,
    path: str,
    monitor: str,
    best: dict | None = None,
    losses: list[tuple[int, float]] | None = None,
    evaluations: list[dict] | None = None,
) -> str:
    """Write `draw_learning_curves(...)` to `path` (a PNG); return the path.

    Written to a temporary name in the same folder, then renamed: a reader (or a kill)
    finds the old picture or the new one, never half of one.
    """
    figure = draw_learning_curves(model_dir, monitor, best, losses, evaluations)
    with files.replaced_whole(str(path), "wb") as f:
        figure.savefig(f, format="png", dpi=100)
    return path


class Painter:
    """Draws a run's learning_curves.png in a child process started when training starts.

    `Painter()` starts the child, which imports matplotlib and warms it up while the run
    trains; `paint(...)` hands it the picture to draw (it returns at once); `wait()` waits
    for the picture and raises PaintingFailedError if the child could not draw it;
    `close()` ends a child that was never asked to paint (a run that ends early). Use it
    as a context manager so the child never outlives the run; a child whose parent dies
    reads end-of-input and exits.

    Where matplotlib is imported already (a notebook, a test session) the import is paid,
    and `paint()` draws right here instead (`in_process`).
    """

    def __init__(self, *, in_process: bool | None = None):
        self.in_process = "matplotlib.figure" in sys.modules if in_process is None else in_process
        self._path: str | None = None
        self._local: str | None = None  # the child's local picture, for a bucket's path
        self._child = None
        if not self.in_process:
            # A file, not a pipe: the child can never block on a full pipe nobody reads.
            self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by wait()/close()
            self._child = subprocess.Popen(
                [sys.executable, "-m", __name__, "--paint"],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
            )

    def paint(self, model_dir: str, path: str, monitor: str, best: dict | None = None) -> None:
        """Draw `write_learning_curves(model_dir, path, monitor, best)`, in the child.

        Everything the picture shows is read here, where TensorFlow is imported already: the
        training losses, and the evaluations. The child reads nothing of model_dir, and for
        a model_dir in a bucket it draws into a local file that `wait()` copies there
        (the child has no TensorFlow, and `ram://` is this process's own).
        """
        self._path = str(path)
        losses = training_losses(model_dir)
        evaluations = records.read_evaluations(model_dir)
        if self.in_process:
            write_learning_curves(model_dir, path, monitor, best, losses, evaluations)
            return
        if files.is_remote(path):
            handle, self._local = tempfile.mkstemp(suffix=".png")
            os.close(handle)
        request = {
            "model_dir": str(model_dir),
            "path": self._local or str(path),
            "monitor": monitor,
            "best": best,
            "losses": losses,
            "evaluations": evaluations,
        }
        try:
            self._child.stdin.write(json.dumps(request).encode())
            self._child.stdin.close()
        except OSError:
            pass  # the child died: wait() says why

    def wait(self) -> str:
        """The picture's path, once it is written."""
        if self._path is None:
            raise RuntimeError("Painter.wait() before paint(): there is no picture to wait for")
        if self._child is not None:
            code = self._child.wait()
            self._stderr.seek(0)
            said = self._stderr.read().decode(errors="replace").strip()
            self._stderr.close()
            self._child = None
            if code != 0:
                raise PaintingFailedError(
                    f"drawing {self._path} failed (the painting process exited with {code})"
                    + (f": {said.splitlines()[-1]}" if said else "")
                )
            if self._local:  # drawn locally for a bucket: copy it there, whole
                try:
                    files.write_bytes(self._path, files.read_bytes(self._local))
                finally:
                    os.unlink(self._local)
                    self._local = None
        return self._path

    def close(self) -> None:
        """End the child: let a picture it was asked for finish; else stop it at once."""
        if self._child is None:
            return
        if self._path is None:
            self._child.kill()  # only warming up: nothing written yet
        # else let it finish: a run that failed after training still gets its picture
        self._child.wait()
        self._stderr.close()
        self._child = None
        if self._local:  # a bucket's picture that wait() never copied
            os.unlink(self._local)
            self._local = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _serve() -> int:
    """The painting child: warm matplotlib up, then draw the one request on stdin, if any."""
    import io

    from matplotlib.figure import Figure

    # The first savefig loads the Agg canvas, fonts and glyphs: pay that now, not at the end.
    warm_up = Figure(figsize=(2, 1))
    warm_up.subplots().set_title("warm-up")
    warm_up.savefig(io.BytesIO(), format="png")
    request = sys.stdin.read()
    if not request:
        return 0  # the run ended without asking for a picture
    request = json.loads(request)
    write_learning_curves(
        request["model_dir"],
        request["path"],
        request["monitor"],
        request["best"],
        [tuple(point) for point in request["losses"]],
        request["evaluations"],
    )
    return 0


def draw_learning_curves(
    model_dir: str,
    monitor: str,
    best: dict | None = None,
    losses: list[tuple[int, float]] | None = None,
    evaluations: list[dict] | None = None,
):
    """A Figure of the training loss and every eval metric against global step.

    One panel per metric, one line per evaluation (`eval`, `eval_<name>`); the training
    loss (`losses`, else read by `training_losses(model_dir)`) shares the `loss` panel.
    `best` ({"step", "value", "monitor"}, e.g. best.json) is marked in every panel by a
    dashed line and on the monitored curve by a star.
    """
    from matplotlib.figure import Figure

    if evaluations is None:
        evaluations = records.read_evaluations(model_dir)
    labels = sorted({e["eval"] for e in evaluations})
    names = sorted({name for e in evaluations for name in records.numeric_metrics(e)})
    if losses is None:
        losses = training_losses(model_dir)
    if losses and "loss" not in names:
        names.insert(0, "loss")
    names.sort(key=lambda name: (name != monitor, name != "loss", name))  # monitored first
    if not names:
        names = [monitor]
    columns = min(len(names), 3)
    rows = -(-len(names) // columns)
    figure = Figure(figsize=(4.5 * columns, 3.4 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes, names):
        if name == "loss" and losses:
            steps, values = zip(*losses)
            # Summaries come every 100 steps by default: a short run may have one point.
            marker = "." if len(losses) < 3 else None
            ax.plot(steps, values, color="0.55", linewidth=1, marker=marker, label="train")
        for label in labels:
            points = [(e["step"], e[name]) for e in evaluations if e["eval"] == label and name in e]
            if points:
                steps, values = zip(*points)
                ax.plot(steps, values, marker=".", label=label)
        if best and best.get("step") is not None:
            ax.axvline(best["step"], color="tab:red", linestyle="--", linewidth=1)
            if name == best.get("monitor", monitor) and best.get("value") is not None:
                ax.plot(
                    [best["step"]],
                    [best["value"]],
                    marker="*",
                    markersize=12,
                    color="tab:red",
                    linestyle="none",
                    label=f"best {best['value']:.4g} @{best['step']}",
                )
        ax.set_title(name)
        ax.set_xlabel("global step")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize="small")
    folder = str(model_dir) if files.is_remote(model_dir) else str(Path(model_dir).resolve())
    figure.suptitle("/".join(folder.rstrip("/").split("/")[-2:]))
    return figure


def write_comparison(runs_: list, path: Path) -> Path:
    """Write `draw_comparison(runs_)` to `path` (a PNG); return the path."""
    draw_comparison(runs_).savefig(path, dpi=100)
    return Path(path)


def draw_comparison(runs_: list):
    """A Figure of a sweep: each run's monitored eval curve, and its best value.

    `runs_` are `records.Run`s. Each run is labelled by its job folder and its own
    overrides, whole (wrapped, never cut), and keeps one colour in both panels. The right
    panel's axis is zoomed to the best values (0.958 and 0.975 must look different), and
    the best run is marked: its bar outlined and hatched with "best" beside its value, its
    curve drawn thicker, "(best)" in the legend. Failed runs are named there too, "failed",
    without a bar.
    """
    import textwrap

    from matplotlib.figure import Figure

    monitor = next((r.best["monitor"] for r in runs_ if r.best.get("monitor")), "accuracy")
    mode = next((r.best["mode"] for r in runs_ if r.best.get("mode")), "max")
    _, own_overrides = records.split_overrides(runs_)
    names = [_run_name(run, own) for run, own in zip(runs_, own_overrides)]
    values = [run.best.get("value") if run.finished else None for run in runs_]
    finished = [(i, v) for i, v in enumerate(values) if v is not None]
    choose = max if mode == "max" else min
    best = choose(finished, key=lambda iv: iv[1])[0] if finished else None
    labels = ["\n".join(textwrap.wrap(name, 42, break_on_hyphens=False)) for name in names]
    lines = sum(label.count("\n") + 1 for label in labels)
    figure = Figure(figsize=(13, max(4.2, 1.2 + 0.22 * lines)), layout="constrained")
    curves, bests = figure.subplots(1, 2, width_ratios=[1.2, 1])
    palette = [f"C{i % 10}" for i in range(len(runs_))]
    for i, run in enumerate(runs_):
        label = records.main_label(run.config)
        points = [
            (e["step"], e[monitor])
            for e in run.evaluations
            if e.get("eval") == label and monitor in e
        ]
        if points:
            steps, metric = zip(*points)
            curves.plot(
                steps,
                metric,
                marker=".",
                color=palette[i],
                linewidth=2.8 if i == best else 1.2,
                zorder=3 if i == best else 2,
                label=run.path.name + (" (best)" if i == best else ""),
            )
    curves.set_title(f"{monitor} of the main evaluation, by run")
    curves.set_xlabel("global step")
    curves.grid(alpha=0.3)
    if curves.lines:
        curves.legend(fontsize="small", loc="best")
    positions = list(range(len(runs_)))
    bars = bests.barh(positions, [v if v is not None else 0.0 for v in values], color=palette)
    if best is not None:
        bars[best].set(edgecolor="black", linewidth=2, hatch="//")
    if finished:
        low, high = min(v for _, v in finished), max(v for _, v in finished)
        margin = (high - low) * 0.25 or abs(high) * 0.02 or 0.01
        # Room on the right for the value's text.
        bests.set_xlim(low - margin, high + margin * 2.5)
    left = bests.get_xlim()[0]
    for position, value in zip(positions, values):
        if value is None:
            text, x, color = "failed", left, "tab:red"
        else:
            text, x, color = f"{value:.4g}", value, "black"
            if position == best:
                text = f"{text}  best"
        bests.annotate(
            text,
            (x, position),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            color=color,
            fontweight="bold" if position == best else "normal",
        )
    bests.set_yticks(positions, labels, fontsize="small")
    bests.invert_yaxis()
    bests.set_title(f"best {monitor} ({mode})")
    bests.grid(axis="x", alpha=0.3)
    return figure


def _run_name(run, overrides: list[str]) -> str:
    """`<job>: key=value ...`: the run's folder and its own overrides, whole."""
    return f"{run.path.name}: {' '.join(overrides)}" if overrides else run.path.name


# Design note: why a child process draws the training run's picture.
#
# Measured on 2 cores (TF 2.15.1, matplotlib 3.11): a default run (1000 steps) takes
# about 9 s as a process, 3 s of it in train(). Drawn in the training process, the
# picture took 0.79-0.85 s: importing matplotlib 0.58 s (spread over matplotlib.figure's
# imports: nothing to cut), the first savefig 0.15 s, reading the event files 6 ms
# (TensorFlow already imported). That was +9-11 % on the process. A thread would compete
# with the training loop for the GIL; a child process runs on the other core, which the
# digits model leaves mostly idle. So the child starts before TensorFlow is imported,
# imports matplotlib and draws a warm-up figure while the run trains, and draws the real
# picture while the run exports its SavedModel. The training process still reads the
# losses (TensorBoard's reader imports TensorFlow: 4 s in a process without it) and
# hands them over. What the training process waits for the picture: 0.02 s
# (tests/benchmarks/progress.py, "picture"). Where matplotlib is imported already, the
# child would only add a process start, so the picture is drawn in-process there.

if __name__ == "__main__":
    if sys.argv[1:] != ["--paint"]:
        sys.exit(f"usage: python -m {__spec__.name} --paint  (a training run starts it)")
    sys.exit(_serve())
