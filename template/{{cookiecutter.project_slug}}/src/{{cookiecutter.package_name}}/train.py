"""Train an Estimator, evaluating it in memory while it trains.

    python -m {{ cookiecutter.package_name }}.train [hydra overrides...]
    {{ cookiecutter.project_slug }}-train model=custom trainer.max_steps=2000

Every run writes checkpoints, eval summaries (`eval/` or `eval_<name>/`, for
TensorBoard) and the exported SavedModel into its own Hydra output folder, unless
`model_dir=` points at an earlier run's folder to resume it.
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

from . import guards
from .config import ConfigError, check_config, config_dir

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> float:
    """Train; return the last evaluation's accuracy (what a sweep optimises)."""
    try:
        check_config(cfg)
        guards.check_tf_config(os.environ.get("TF_CONFIG"))
    except (ConfigError, guards.InMemoryEvaluationError) as error:
        exit_with(error)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    model_dir = cfg.model_dir or str(run_dir)

    # TensorFlow loads only once the config is known to be good: a bad override or
    # `--cfg job` answers in a second instead of after TensorFlow's start-up.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ start-up chatter
    import tensorflow as tf

    try:  # before importing the modules that need Estimator and Keras 2
        guards.check_runtime()
    except guards.InMemoryEvaluationError as error:
        exit_with(error)
    from .data import eval_input_fn, load_dataset, train_input_fn
    from .evaluation import InMemoryEvaluatorHook
    from .model import build_estimator, serving_input_fn

    tf.get_logger().setLevel(logging.ERROR)  # Estimator code is one long deprecation warning
    devices = [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices()]
    log.info("TensorFlow %s sees %s", tf.__version__, ", ".join(devices))
    if cfg.runtime.require_gpu and not tf.config.list_physical_devices("GPU"):
        exit_with(
            f"runtime.require_gpu=true, but TensorFlow sees no GPU (only {', '.join(devices)}). "
            "In Docker, run with --gpus all on a host with the NVIDIA Container Toolkit; "
            "with pip, install the gpu extra; or set runtime.require_gpu=false to train on CPU"
        )
    try:
        data = load_dataset(cfg.data)
    except (OSError, ValueError) as error:
        exit_with(error)
    log.info("model_dir: %s", model_dir)

    estimator = build_estimator(cfg.model, cfg.trainer, data.n_features, data.n_classes, model_dir)
    train_input = train_input_fn(data, cfg.trainer.batch_size, cfg.trainer.seed)
    eval_input = eval_input_fn(data, cfg.evaluator.batch_size)
    try:  # everything in-memory evaluation cannot handle stops here, before model_dir is read
        evaluator = InMemoryEvaluatorHook(
            estimator,
            eval_input,
            steps=cfg.evaluator.steps,
            name=cfg.evaluator.name,
            every_n_iter=cfg.evaluator.every_n_iter,
            every_n_secs=cfg.evaluator.every_n_secs,
            on_evaluation=record_evaluation(
                run_dir / "evaluations.jsonl",
                os.path.basename(estimator.eval_dir(cfg.evaluator.name)),  # eval or eval_<name>
            ),
        )
        guards.preflight(estimator, train_input, eval_input)
    except guards.InMemoryEvaluationError as error:
        exit_with(error)
    estimator.train(train_input, max_steps=cfg.trainer.max_steps, hooks=[evaluator])

    if cfg.trainer.export_saved_model:
        export_dir = estimator.export_saved_model(
            os.path.join(model_dir, "export"), serving_input_fn(data.n_features)
        )
        log.info("SavedModel: %s", export_dir.decode())
    if evaluator.latest is None:  # nothing to train: model_dir was already at max_steps
        return float("nan")
    return float(evaluator.latest["accuracy"])


def record_evaluation(jsonl_path: Path, label: str):
    """Log each evaluation as one line and append it to the run's JSON-lines file."""

    def record(step: int, metrics: dict) -> None:
        shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if k != "global_step")
        log.info("%s step %d: %s", label, step, shown)
        with jsonl_path.open("a") as f:
            f.write(json.dumps({"eval": label, "step": step, **metrics}) + "\n")

    return record


def exit_with(error: Exception | str) -> None:
    """Expected errors (bad config or data) end the run with one line, not a traceback."""
    print(f"error: {error}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
