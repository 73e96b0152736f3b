"""Train an Estimator, evaluating it in memory while it trains.

    python -m {{ cookiecutter.package_name }}.train [hydra overrides...]
    {{ cookiecutter.project_slug }}-train model=custom trainer.max_steps=2000

`train(cfg)` does the work and returns the metrics; `main` is the Hydra entry point
around it. Every run writes checkpoints, eval summaries (`eval/` or `eval_<name>/`, for
TensorBoard), `evaluations.jsonl` and the exported SavedModel into its own Hydra output
folder, unless `model_dir=` points at an earlier run's folder to resume it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from . import inmemory
from .config import check_config, config_dir
from .errors import ProjectError, RuntimeRequirementError

log = logging.getLogger(__name__)


def train(cfg: DictConfig, run_dir: Path) -> dict:
    """Train as `cfg` says, in `run_dir` (or `cfg.model_dir`); return the last evaluation.

    Raises a `ProjectError` for anything the config, the data or the setup gets wrong,
    before any checkpoint is read or written.
    """
    check_config(cfg)
    if cfg.evaluator.kind == "checkpoint":
        return _train_and_evaluate(cfg, run_dir)
    inmemory.check_tf_config(os.environ.get("TF_CONFIG"))
    model_dir = str(cfg.model_dir or run_dir)
    _load_tensorflow(cfg)
    from .data import eval_input_fn, load_dataset, train_input_fn
    from .model import build_estimator, serving_input_fn

    data = load_dataset(cfg.data)
    log.info("model_dir: %s", model_dir)
    estimator = build_estimator(cfg.model, cfg.trainer, data, model_dir)
    train_input = train_input_fn(data, cfg.trainer.batch_size, cfg.trainer.seed)
    eval_input = eval_input_fn(data, cfg.evaluator.batch_size)
    # Everything in-memory evaluation cannot handle stops here, before model_dir is read.
    evaluator = inmemory.InMemoryEvaluatorHook(
        estimator,
        eval_input,
        steps=cfg.evaluator.steps,
        name=cfg.evaluator.name,
        every_n_iter=cfg.evaluator.every_n_iter,
        every_n_secs=cfg.evaluator.every_n_secs,
        callbacks=[record_evaluation(Path(model_dir) / "evaluations.jsonl")],
    )
    inmemory.preflight(estimator, train_input, eval_input)
    estimator.train(train_input, max_steps=cfg.trainer.max_steps, hooks=[evaluator])

    if cfg.trainer.export in ("last", "both", "best"):
        export_dir = estimator.export_saved_model(
            os.path.join(model_dir, "export", "last"), serving_input_fn(data.n_features)
        )
        log.info("SavedModel: %s", export_dir.decode())
    return dict(evaluator.latest or {})


def _train_and_evaluate(cfg: DictConfig, run_dir: Path) -> dict:
    """evaluator=checkpoint: tf.estimator.train_and_evaluate, alone or as a cluster task."""
    from .cluster import check_tf_config

    task = check_tf_config(os.environ.get("TF_CONFIG"))  # before TensorFlow reads it
    model_dir = str(cfg.model_dir or run_dir)
    _load_tensorflow(cfg)
    from .checkpoint_evaluator import train_and_evaluate

    log.info("model_dir: %s", model_dir)
    return train_and_evaluate(cfg, model_dir, task)


def _load_tensorflow(cfg: DictConfig) -> None:
    """Import TensorFlow (only once the config is known to be good) and check the machine."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ start-up chatter
    import tensorflow as tf

    inmemory.check_runtime()  # before anything imports Estimator or Keras
    tf.get_logger().setLevel(logging.ERROR)  # Estimator code is one long deprecation warning
    devices = [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices()]
    log.info("TensorFlow %s sees %s", tf.__version__, ", ".join(devices))
    if cfg.runtime.require_gpu and not tf.config.list_physical_devices("GPU"):
        raise RuntimeRequirementError(
            f"runtime.require_gpu=true, but TensorFlow sees no GPU (only {', '.join(devices)}). "
            "In Docker, run with --gpus all on a host with the NVIDIA Container Toolkit; "
            "with pip, install the gpu extra; or set runtime.require_gpu=false to train on CPU"
        )


def record_evaluation(jsonl_path: Path):
    """Log each evaluation as one line and append it to the run's JSON-lines file."""

    def record(evaluation) -> None:
        metrics = evaluation.metrics
        shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if k != "global_step")
        log.info("%s step %d: %s", evaluation.label, evaluation.step, shown)
        with jsonl_path.open("a") as f:
            f.write(json.dumps({"eval": evaluation.label, "step": evaluation.step, **metrics}))
            f.write("\n")

    return record


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> float:
    """The Hydra entry point: train, and return the final accuracy (what sweeps optimise)."""
    try:
        metrics = train(cfg, Path(HydraConfig.get().runtime.output_dir))
    except ProjectError as error:  # expected: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    return float(metrics.get("accuracy", float("nan")))


if __name__ == "__main__":
    main()
