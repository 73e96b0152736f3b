"""Pictures of runs: a run's learning curves, and a sweep's runs side by side.

matplotlib's object API with its Agg canvas (no pyplot, no display, no global state), so it
draws the same in Docker, CI and a desktop session.
"""

from __future__ import annotations

from pathlib import Path

from . import records

LEARNING_CURVES = "learning_curves.png"
COMPARISON = "comparison.png"


def training_losses(model_dir: Path) -> list[tuple[int, float]]:
    """(global step, training loss) from the Estimator's training event files in model_dir."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(model_dir), size_guidance={"scalars": 0})  # 0: keep all
    events.Reload()
    if "loss" not in events.Tags().get("scalars", []):
        return []
    return [(event.step, event.value) for event in events.Scalars("loss")]


def write_learning_curves(
    model_dir: Path, path: Path, monitor: str, best: dict | None = None
) -> Path:
    """Write `draw_learning_curves(...)` to `path` (a PNG); return the path."""
    draw_learning_curves(model_dir, monitor, best).savefig(path, dpi=100)
    return Path(path)


def draw_learning_curves(model_dir: Path, monitor: str, best: dict | None = None):
    """A Figure of the training loss and every eval metric against global step.

    One panel per metric, one line per evaluation (`eval`, `eval_<name>`); the training
    loss shares the `loss` panel. `best` ({"step", "value", "monitor"}, e.g. best.json)
    is marked in every panel by a dashed line and on the monitored curve by a star.
    """
    from matplotlib.figure import Figure

    evaluations = records.read_evaluations(model_dir)
    labels = sorted({e["eval"] for e in evaluations})
    names = sorted({name for e in evaluations for name in records.numeric_metrics(e)})
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
    folder = Path(model_dir).resolve()
    figure.suptitle(f"{folder.parent.name}/{folder.name}")
    return figure


def write_comparison(runs_: list, path: Path) -> Path:
    """One picture of a sweep: each run's monitored eval curve, and its best value.

    `runs_` are `records.Run`s; failed runs are named in the right panel with an x.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), layout="constrained")
    curves, bests = figure.subplots(1, 2)
    monitor = next((r.best["monitor"] for r in runs_ if r.best.get("monitor")), "accuracy")
    names, values, colors = [], [], []
    _, own_overrides = records.split_overrides(runs_)
    for run, overrides in zip(runs_, own_overrides):
        name = _short_name(run, overrides)
        label = records.main_label(run.config)
        points = [
            (e["step"], e[monitor])
            for e in run.evaluations
            if e.get("eval") == label and monitor in e
        ]
        if points:
            steps, metric = zip(*points)
            curves.plot(steps, metric, marker=".", label=name)
        value = run.best.get("value") if run.finished else None
        names.append(name)
        values.append(value if value is not None else 0.0)
        colors.append("tab:blue" if value is not None else "tab:red")
    curves.set_title(f"{monitor} of the main evaluation, by run")
    curves.set_xlabel("global step")
    curves.grid(alpha=0.3)
    if curves.lines:
        curves.legend(fontsize="x-small", loc="lower right")
    positions = range(len(names))
    bests.barh(positions, values, color=colors)
    for position, run, value in zip(positions, runs_, values):
        text = f"{value:.4g}" if run.finished else "failed"
        bests.annotate(
            text, (value, position), xytext=(3, 0), textcoords="offset points", va="center"
        )
    bests.set_yticks(list(positions), names, fontsize="x-small")
    bests.invert_yaxis()
    bests.set_title(f"best {monitor}")
    figure.savefig(path, dpi=100)
    return Path(path)


def _short_name(run, overrides: list[str]) -> str:
    """`<job>: key=value ...` with the keys' last part and values to 4 digits."""
    parts = []
    for override in overrides:
        key, _, value = override.partition("=")
        try:
            value = f"{float(value):.4g}" if "." in value or "e" in value else value
        except ValueError:
            pass
        parts.append(f"{key.rsplit('.', 1)[-1]}={value}")
    return f"{run.path.name}: {' '.join(parts)}"[:60]
