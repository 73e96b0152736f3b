"""A run's hyperparameters, for TensorBoard's HParams dashboard.

The hyperparameters are the model, trainer, data and evaluator config values. Next to them
the dashboard shows the run's metrics: the eval scalars the evaluator already writes
(`eval/accuracy`, ...), whose last values are the run's final metrics, the training loss,
and the best monitored value (`best/<monitor>`, at the best step) with that step
(`best/step`). Each run folder is one session, so `tensorboard --logdir multirun/<date>/<time>`
compares a sweep's runs, and `tensorboard --logdir <run folder>` shows the one run: its
metrics are listed in the run's experiment summary (TensorBoard finds eval metrics by
itself only in runs below the folder it was pointed at).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

GROUPS = ("model", "trainer", "data", "evaluator")


def hyperparameters(cfg: DictConfig) -> dict:
    """The config's values as HParams takes them: `group.key` -> bool, int, float or str."""
    values = {}
    for group in GROUPS:
        section = OmegaConf.select(cfg, group)
        if section is None:
            continue
        for key, value in OmegaConf.to_container(section, resolve=True).items():
            if isinstance(value, (list, tuple, dict)) or value is None:
                value = str(value)  # lists (hidden_units) and null compare as their text
            values[f"{group}.{key}"] = value
    return values


def metric_names(model_dir: str, monitor: str) -> list[tuple[str, str]]:
    """(group, tag) of every metric the dashboard shows for the run: each evaluation's
    metrics (group `eval`, `eval_<name>`), the training loss and the best ("")."""
    from . import records

    evaluations = records.read_evaluations(str(model_dir))
    names = {
        (e["eval"], name)
        for e in evaluations
        if isinstance(e.get("eval"), str)
        for name in records.numeric_metrics(e)
    }
    return [*sorted(names), ("", "loss"), ("", f"best/{monitor}"), ("", "best/step")]


def write_hparams(model_dir: Path, cfg: DictConfig, run_name: str) -> dict:
    """Record the run's hyperparameters, its metrics' names and its best monitored value
    (and step) in model_dir's event files; return the hyperparameters."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    from . import records

    values = hyperparameters(cfg)
    best = records.best_record(str(model_dir), cfg)
    metrics = [
        hp.Metric(tag, group=group or None, display_name=f"{group}/{tag}" if group else tag)
        for group, tag in metric_names(model_dir, best["monitor"])
    ]
    writer = tf.summary.create_file_writer(str(model_dir))
    with writer.as_default():
        hp.hparams_config(hparams=[hp.HParam(name) for name in values], metrics=metrics)
        hp.hparams(values, trial_id=run_name)
        if best.get("value") is not None and best.get("step") is not None:
            step = int(best["step"])
            tf.summary.scalar(f"best/{best['monitor']}", best["value"], step=step)
            tf.summary.scalar("best/step", step, step=step)
    writer.close()
    return values
