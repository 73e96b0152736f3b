"""A run's hyperparameters, for TensorBoard's HParams dashboard.

The hyperparameters are the model, trainer, data and evaluator config values; the metrics
the dashboard shows next to them are the eval scalars the evaluator already writes
(`eval/accuracy`, ...), whose last values are the run's final metrics. Each run folder is
one session, so `tensorboard --logdir multirun/<date>/<time>` compares a sweep's runs.
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


def write_hparams(model_dir: Path, cfg: DictConfig, run_name: str) -> dict:
    """Record the run's hyperparameters in model_dir's event files; return them."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    values = hyperparameters(cfg)
    writer = tf.summary.create_file_writer(str(model_dir))
    with writer.as_default():
        hp.hparams(values, trial_id=run_name)
    writer.close()
    return values
