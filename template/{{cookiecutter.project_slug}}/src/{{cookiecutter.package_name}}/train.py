"""Train an Estimator, evaluating it in memory while it trains.

    python -m {{ cookiecutter.package_name }}.train [hydra overrides...]
    {{ cookiecutter.project_slug }}-train model=custom trainer.max_steps=2000

`train(cfg)` does the work and returns the results; `main` is the Hydra entry point
around it. Every run writes checkpoints, eval summaries (`eval/` or `eval_<name>/`, for
TensorBoard), `evaluations.jsonl`, the best weights (`best/`) and the exported
SavedModel into its own folder, unless `model_dir=` points at an earlier run's folder
to resume it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from . import inmemory, runs
from .best import BestKeeper, Monitor
from .config import check_config, config_dir
from .console import print_config, quiet_tensorflow
from .errors import ProjectError, RuntimeRequirementError
from .plots import LEARNING_CURVES, Painter
from .records import best_record, write_result

log = logging.getLogger(__name__)


def train(cfg: DictConfig, run_dir: Path, *, overrides: list[str] | None = None) -> dict:
    """Train as `cfg` says; return the best monitored value and the last evaluation.

    `run_dir` is this run's folder (its model_dir, unless `cfg.model_dir` resumes another
    run); `overrides` are the command line's, used to merge a resumed run's stored config.
    Raises a `ProjectError` for anything the config, the data or the setup gets wrong,
    before any checkpoint is read or written.
    """
    started = time.monotonic()
    cfg, run = runs.prepare(cfg, run_dir, overrides)
    check_config(cfg)
    if cfg.evaluator.kind == "checkpoint":
        return _train_and_evaluate(cfg, run, started)
    inmemory.check_tf_config(os.environ.get("TF_CONFIG"))
    # Started before TensorFlow is imported: the picture's child process imports matplotlib
    # while this one imports TensorFlow and trains.
    with Painter() as painter:
        return _train_in_memory(cfg, run, painter, started)


def _train_in_memory(cfg: DictConfig, run: runs.Run, painter: Painter, started: float) -> dict:
    """The in-memory evaluator's training, from a checked config; `train` without the checks."""
    _load_tensorflow(cfg)
    import tensorflow as tf

    from .data import eval_input_fn, load_dataset, train_input_fn
    from .model import build_estimator
    from .progress import ProgressHook

    data = load_dataset(cfg.data)
    model_dir = str(run.model_dir)
    log.info("model_dir: %s", model_dir)
    estimator = build_estimator(cfg.model, cfg.trainer, data, model_dir)
    train_input = train_input_fn(data, cfg.trainer.batch_size, cfg.trainer.seed)
    eval_input = eval_input_fn(data, cfg.evaluator.batch_size)
    monitor = Monitor.from_config(cfg.evaluator, data.task)
    checkpoint = tf.train.latest_checkpoint(model_dir) if run.resuming else None
    # Everything in-memory evaluation cannot handle, a monitor the model does not produce
    # and a checkpoint of another model all stop here, before model_dir is read.
    evaluator = inmemory.InMemoryEvaluatorHook(
        estimator,
        eval_input,
        steps=cfg.evaluator.steps,
        name=cfg.evaluator.name,
        every_n_iter=cfg.evaluator.every_n_iter,
        every_n_secs=cfg.evaluator.every_n_secs,
    )
    metric_names = inmemory.preflight(estimator, train_input, eval_input, resume_from=checkpoint)
    monitor.check_produced(metric_names)
    keeper = BestKeeper(
        model_dir,
        monitor,
        keep=cfg.evaluator.keep_best,
        patience=cfg.evaluator.patience,
        max_steps=cfg.trainer.max_steps,
    )
    try:
        with runs.run_log(run):
            step = int(checkpoint.rsplit("-", 1)[1]) if checkpoint else 0
            if step >= cfg.trainer.max_steps:
                log.info(
                    "%s is at step %d, trainer.max_steps=%d: nothing to train (raise "
                    "trainer.max_steps to continue)",
                    model_dir,
                    step,
                    cfg.trainer.max_steps,
                )
                return _results(keeper, evaluator, stopped_early=False)
            if not keeper.continue_after_early_stop(cfg.trainer.max_steps, cfg.evaluator.patience):
                stopped = keeper.record["early_stopped"]
                log.info(
                    "this run stopped early at step %d (evaluator.patience=%d): nothing to "
                    "train (raise trainer.max_steps or evaluator.patience to continue)",
                    stopped["step"],
                    stopped["patience"],
                )
                return _results(keeper, evaluator, stopped_early=True)
            if step in runs.evaluated_steps(run.model_dir, evaluator.label):
                evaluator.skip_step(step)  # evaluated before the run was stopped
            progress = ProgressHook(
                cfg.trainer.max_steps, cfg.trainer.log_step_count_steps, monitor.name
            )
            evaluator.add_callbacks(
                keeper,
                record_evaluation(run.model_dir / runs.JSONL, keeper.improved.get),
                progress.on_evaluation,
            )
            hooks = [evaluator, progress]
            estimator.train(train_input, max_steps=cfg.trainer.max_steps, hooks=hooks)
            keeper.close()
            if evaluator.stop_reason:
                log.info("%s", evaluator.stop_reason)
            paint_learning_curves(cfg, run, painter)  # best/ is complete: the keeper closed
            export(cfg.trainer.export, estimator, keeper, data)  # while the child draws
            results = _results(keeper, evaluator, stopped_early=bool(evaluator.stop_reason))
            record_run(cfg, run, results, time.monotonic() - started, painter)
            return results
    finally:
        keeper.close()


def export(which: str, estimator, keeper: BestKeeper, data) -> None:
    """The SavedModel(s) trainer.export asks for, in model_dir/export/{best,last}/."""
    from .model import export_saved_model

    base = Path(estimator.model_dir) / "export"
    if which in ("best", "both") and keeper.best_checkpoint():
        path = export_saved_model(
            estimator, data, str(base / "best"), checkpoint_path=keeper.best_checkpoint()
        )
        log.info(
            "SavedModel of the best weights (step %d, %s=%.4g): %s",
            keeper.best_step,
            keeper.monitor.name,
            keeper.best_value,
            path.decode(),
        )
    if which in ("last", "both"):
        path = export_saved_model(estimator, data, str(base / "last"))
        log.info("SavedModel of the last weights: %s", path.decode())


def paint_learning_curves(cfg: DictConfig, run: runs.Run, painter: Painter) -> None:
    """Ask `painter` for the run's learning_curves.png (in model_dir), its best marked."""
    best = best_record(run.model_dir, cfg)
    painter.paint(run.model_dir, run.model_dir / LEARNING_CURVES, best["monitor"], best)


def record_run(
    cfg: DictConfig, run: runs.Run, results: dict, wall_time_s: float, painter: Painter
) -> None:
    """What people read after training: learning_curves.png, TensorBoard HParams, result.json.

    The picture (asked of `painter`) goes to model_dir (a resume redraws the run's own);
    result.json goes to this invocation's folder, last: it marks the job as finished for
    the report.
    """
    from .hparams import write_hparams

    run.record_dir.mkdir(parents=True, exist_ok=True)
    write_hparams(run.model_dir, cfg, run.record_dir.name)
    log.info("learning curves: %s", painter.wait())
    write_result(run.record_dir, run.model_dir, cfg, results["metrics"], wall_time_s)


def _results(keeper: BestKeeper, evaluator, *, stopped_early: bool) -> dict:
    return {
        "monitor": keeper.monitor.name,
        "mode": keeper.monitor.mode,
        "best": keeper.best_value,
        "best_step": keeper.best_step,
        "metrics": dict(evaluator.latest or keeper.record["metrics"] or {}),
        "stopped_early": stopped_early,
    }


def _train_and_evaluate(cfg: DictConfig, run: runs.Run, started: float) -> dict:
    """evaluator=checkpoint: tf.estimator.train_and_evaluate, alone or as a cluster task."""
    from .cluster import check_tf_config

    task = check_tf_config(os.environ.get("TF_CONFIG"))  # before TensorFlow reads it
    # The process that evaluates (alone, or a cluster's evaluator task) leaves the run's
    # picture and result.json, as in-memory training does; training and ps tasks do not.
    evaluates = task.type in (None, "evaluator")
    with Painter() if evaluates else contextlib.nullcontext() as painter:
        _load_tensorflow(cfg)
        from .checkpoint_evaluator import train_and_evaluate

        log.info("model_dir: %s", run.model_dir)
        results = train_and_evaluate(cfg, str(run.model_dir), task, resuming=run.resuming)
        if painter is not None:
            paint_learning_curves(cfg, run, painter)
            record_run(cfg, run, results, time.monotonic() - started, painter)
        return results


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


def record_evaluation(jsonl_path: Path, improved_at):
    """Log each evaluation as one line and append it to the JSONL, marked if it improved.

    `improved_at(step)` says whether the evaluation at that step improved the monitored
    metric (True, False or None for not known).
    """

    def record(evaluation) -> None:
        metrics = evaluation.metrics
        shown = " ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()) if k != "global_step")
        improved = bool(improved_at(evaluation.step))
        log.info(
            "%s step %d: %s%s", evaluation.label, evaluation.step, shown, " *" if improved else ""
        )
        line = {"eval": evaluation.label, "step": evaluation.step, **metrics, "improved": improved}
        with jsonl_path.open("a") as f:
            f.write(json.dumps(line) + "\n")

    return record


@hydra.main(version_base="1.3", config_path=str(config_dir()), config_name="train")
def main(cfg: DictConfig) -> float:
    """The Hydra entry point: train, and return the best monitored value (what sweeps optimise)."""
    quiet_tensorflow()
    print_config(cfg)
    hydra_config = HydraConfig.get()
    in_sweep = hydra_config.mode == RunMode.MULTIRUN
    try:
        results = train(
            cfg,
            Path(hydra_config.runtime.output_dir),
            overrides=list(hydra_config.overrides.task),
        )
    except ProjectError as error:  # expected: one line, no traceback
        print(f"error: {error}", file=sys.stderr)
        if in_sweep:
            log.error("%s", error)  # in the job's log, where the report finds it
            raise  # Hydra records the job as failed and the sweep goes on; exit would end it
        runs.discard_failed_attempt(
            Path(hydra_config.runtime.output_dir), hydra_config.output_subdir
        )
        sys.exit(2)
    except Exception as error:
        if in_sweep:
            log.error("%s: %s", type(error).__name__, error)
        raise
    return float("nan") if results["best"] is None else float(results["best"])


if __name__ == "__main__":
    main()
