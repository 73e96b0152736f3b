"""Train a project's Estimator from a composed config: `train(cfg, run_dir, models=, datasets=)`.

The work a project's `<slug>-train` does, without Hydra's entry point around it
(`app.Project.main` is that): the config is checked (`config.settings`) and the data loaded
before TensorFlow is imported; then, with `evaluator=in_memory`, the Estimator trains with
the InMemoryEvaluatorHook, whose metrics keep the best weights (`best.BestKeeper`), stop a
plateau, and choose the SavedModel to export; with `evaluator=checkpoint`,
`tf.estimator.train_and_evaluate` runs, alone or as one task of a cluster
(`checkpoint.train_and_evaluate`). Every run writes checkpoints, eval summaries (`eval/` or
`eval_<name>/`, for TensorBoard), `evaluations.jsonl`, the best weights (`best/`) and the
exported SavedModel into its model_dir, and `result.json`, `learning_curves.png` and
TensorBoard HParams beside them.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import time

from omegaconf import DictConfig

from . import config, files, records, runs
from .best import BestKeeper, Monitor
from .errors import RuntimeRequirementError
from .registry import Registry

log = logging.getLogger(__name__)
# An event file is named after the second its writer opened it: events.out.tfevents.<s>.<host>
EVENT_FILE = re.compile(r"events\.out\.tfevents\.(\d+)\.")


def train(
    cfg: DictConfig,
    run_dir: str,
    *,
    models: Registry | str,
    datasets: Registry | str,
    overrides: list[str] | None = None,
) -> dict:
    """Train as `cfg` says; return the best monitored value and the last evaluation.

    `run_dir` is this run's folder (its model_dir, unless `cfg.model_dir` resumes another
    run); `models` and `datasets` are the project's registries (or "module:attribute"
    strings naming them, imported when needed: the models' module imports TensorFlow);
    `overrides` are the command line's, used to merge a resumed run's stored config.
    Returns {monitor, mode, best, best_step, metrics, stopped_early}. Raises an
    `EstimatorInMemoryError` for anything the config, the data or the setup gets wrong,
    before any checkpoint is read or written.
    """
    from .cluster import adopt_jobset_environment
    from .plots import Painter

    started = time.monotonic()
    cfg, run = runs.prepare(cfg, str(run_dir), overrides)
    settings = config.settings(cfg)
    # A pod of k8s/jobset.yaml builds its TF_CONFIG here, before either evaluator reads it.
    tf_config = adopt_jobset_environment()
    if run.resuming:
        _after_the_last_writers_second(run.model_dir)
    if settings.evaluator.kind == "checkpoint":
        return _train_and_evaluate(cfg, settings, run, models, datasets, started)
    from .guards import check_tf_config

    check_tf_config(tf_config)
    # Started before TensorFlow is imported: the picture's child process imports matplotlib
    # while this one loads the data, imports TensorFlow and trains.
    with Painter() as painter:
        data = load_dataset(settings.data, datasets)
        return _train_in_memory(cfg, settings, data, run, models, painter, started)


def _train_in_memory(cfg, settings, data, run: runs.Run, models, painter, started) -> dict:
    """The in-memory evaluator's training, from checked settings."""
    _load_tensorflow(settings.runtime)
    import tensorflow as tf

    from .data import eval_input_fn, train_input_fn
    from .hook import InMemoryEvaluatorHook
    from .progress import ProgressHook

    trainer, evaluator_settings = settings.trainer, settings.evaluator
    log.info("model_dir: %s", run.model_dir)
    estimator = build_estimator(settings.model, trainer, data, run.model_dir, models)
    train_input = train_input_fn(data, trainer.batch_size, trainer.seed)
    monitor = Monitor.of(evaluator_settings, data.task)
    checkpoint = tf.train.latest_checkpoint(run.model_dir) if run.resuming else None
    # Everything in-memory evaluation cannot handle stops here (the constructor: schedule,
    # runtime, TF_CONFIG, RunConfig; prepare(): the eval graph), and a monitor the model
    # does not produce, before model_dir is read.
    evaluator = InMemoryEvaluatorHook(
        estimator,
        eval_input_fn(data, evaluator_settings.batch_size),
        steps=evaluator_settings.steps,
        name=evaluator_settings.name,
        every_n_iter=evaluator_settings.every_n_iter,
        every_n_secs=evaluator_settings.every_n_secs,
    )
    monitor.check_produced(evaluator.prepare())
    # The training graph, and the checkpoint a resume restores, are checked as Estimator
    # builds the graph: before its hooks write to model_dir.
    trained = evaluator.checked_training(resume_from=checkpoint)
    keeper = BestKeeper(
        run.model_dir,
        monitor,
        keep=evaluator_settings.keep_best,
        patience=evaluator_settings.patience,
        max_steps=trainer.max_steps,
    )
    try:
        with runs.run_log(run):
            runs.store_config(cfg, run)
            step = _checkpoint_step(checkpoint)
            if step >= trainer.max_steps:
                log.info(
                    "%s is at step %d, trainer.max_steps=%d: nothing to train (raise "
                    "trainer.max_steps to continue)",
                    run.model_dir,
                    step,
                    trainer.max_steps,
                )
                return _results(keeper, evaluator.latest, stopped_early=False)
            if not keeper.continue_after_early_stop(trainer.max_steps, evaluator_settings.patience):
                stopped = keeper.record["early_stopped"]
                log.info(
                    "this run stopped early at step %d (evaluator.patience=%d): nothing to "
                    "train (raise trainer.max_steps or evaluator.patience to continue)",
                    stopped["step"],
                    stopped["patience"],
                )
                return _results(keeper, evaluator.latest, stopped_early=True)
            if step in runs.evaluated_steps(run.model_dir, evaluator.label):
                evaluator.skip_step(step)  # evaluated before the run was stopped
            progress = ProgressHook(trainer.max_steps, trainer.log_step_count_steps, monitor.name)
            evaluator.add_callbacks(
                keeper,
                record_evaluation(run.model_dir, keeper.improved.get),
                progress.on_evaluation,
            )
            hooks = [evaluator, progress]
            if checkpoint:  # last: its begin() runs after the others' checks, before any evaluation
                hooks.append(_one_history_hook(run.model_dir, step, evaluator.label, keeper))
            trained.train(train_input, max_steps=trainer.max_steps, hooks=hooks)
            keeper.close()
            if evaluator.stop_reason:
                log.info("%s", evaluator.stop_reason)
            paint_learning_curves(cfg, run, painter)  # best/ is complete: the keeper closed
            export(trainer.export, estimator, keeper, data)  # while the child draws
            results = _results(keeper, evaluator.latest, stopped_early=bool(evaluator.stop_reason))
            record_run(cfg, run, results, time.monotonic() - started, painter)
            return results
    finally:
        keeper.close()


def _one_history_hook(model_dir: str, step: int, label: str, keeper: BestKeeper):
    """A hook whose begin() makes a run resumed from the checkpoint of `step` one history.

    begin() runs once Estimator built the training graph and the resume was checked against
    the checkpoint, after the other hooks' begin() (a refused resume changes nothing), and
    before any evaluation (the session, and so the first evaluation, comes after every
    begin()): the evaluations a killed run made past `step` are moved aside
    (`runs.supersede_evaluations`), the best record forgets them (`BestKeeper.rewind`), and
    every eval folder gets the restart marker TensorBoard honours (`mark_restart`).
    """
    import tensorflow as tf

    class OneHistory(tf.estimator.SessionRunHook):
        def begin(self):
            superseded = runs.supersede_evaluations(model_dir, step)
            if superseded:
                steps = sorted({r["step"] for r in superseded if isinstance(r.get("step"), int)})
                log.info(
                    "resuming from the checkpoint of step %d: %d evaluation record(s) past it "
                    "(steps %s) belong to the steps training repeats now, and were moved to %s",
                    step,
                    len(superseded),
                    ", ".join(map(str, steps)) or "-",
                    files.join(model_dir, runs.SUPERSEDED),
                )
            keeper.rewind(step, [r for r in superseded if r.get("eval") == label])
            mark_restart(model_dir, step)

    return OneHistory()


def mark_restart(model_dir: str, step: int) -> list[str]:
    """Tell TensorBoard that each eval folder's history restarts at `step`; return the folders.

    As Estimator does for training in model_dir (its SummarySaverHook writes
    `SessionLog.START` when training starts): TensorBoard's reader drops every event at or
    past that step read before the marker. Each eval folder (`eval`, `eval_<name>`) gets,
    through the writer its evaluations are written with (Estimator's FileWriterCache, so the
    resumed run's summaries follow in the same file), `SessionLog.START` at `step`, then the
    folder's own summary of the evaluation at `step` again, which the resumed run does not
    repeat. That re-written point also makes TensorBoard's fast loader (which ignores
    SessionLog, but replaces a series' points from a step that comes again) drop what
    followed it. In the training graph (graph mode), e.g. from a hook's begin().
    """
    import tensorflow as tf

    marked = []
    for folder in _eval_folders(model_dir):
        event_files = files.glob(folder, "events.out.tfevents.*")
        if not event_files:
            continue
        writer = tf.compat.v1.summary.FileWriterCache.get(folder)
        writer.flush()  # what this process evaluated before (a resume in the same process)
        at_step = None
        for path in event_files:
            try:
                for event in tf.compat.v1.train.summary_iterator(path):
                    if event.step == step and event.HasField("summary"):
                        at_step = event
            except tf.errors.DataLossError:  # the last record, cut short by a kill
                continue
        start = tf.compat.v1.SessionLog(status=tf.compat.v1.SessionLog.START)
        writer.add_session_log(start, step)
        if at_step is not None:
            writer.add_event(at_step)
        writer.flush()
        marked.append(folder)
    return marked


def _eval_folders(model_dir: str) -> list[str]:
    """The eval folders of a model_dir, as Estimator names them: `eval`, `eval_<name>`."""
    return [
        files.join(model_dir, name)
        for name in files.listdir(model_dir)
        if (name == "eval" or name.startswith("eval_")) and files.isdir(files.join(model_dir, name))
    ]


def _after_the_last_writers_second(model_dir: str) -> None:
    """Wait, when needed, until the second in which model_dir's newest event file (its own
    or an eval folder's) was opened has passed.

    TensorFlow names an event file after that second and the host, and a writer that opens
    a file of the same name truncates it: a run resumed within that second (a quick retry
    after a crash, a notebook, a test) wiped the summaries the run before it had written
    there, training's or each evaluation's. At most a second, and only then.
    """
    seconds = [
        int(match.group(1))
        for folder in (model_dir, *_eval_folders(model_dir))
        for name in files.listdir(folder)
        if (match := EVENT_FILE.match(name))
    ]
    wait = max(seconds, default=0) + 1 - time.time()
    if wait > 0:
        time.sleep(wait)


def _checkpoint_step(checkpoint: str | None) -> int:
    from .checkpoints import step_of

    return step_of(checkpoint) if checkpoint else 0


def load_dataset(data_cfg: DictConfig, datasets: Registry | str):
    """The Dataset `data.name` names, loaded by the project's registered loader."""
    loader = resolve(datasets, "DATASETS").get_for(data_cfg.name, "DATASETS")
    return loader(data_cfg)


def build_estimator(model_cfg, trainer, data, model_dir: str, models: Registry | str, **run_config):
    """The Estimator `model.name` names; `run_config` overrides RunConfig arguments."""
    import tensorflow as tf

    builder = resolve(models, "MODELS").get_for(model_cfg.name, "MODELS")
    arguments = {
        "model_dir": model_dir,
        "tf_random_seed": trainer.seed,
        "save_checkpoints_steps": trainer.save_checkpoints_steps,
        "keep_checkpoint_max": trainer.keep_checkpoint_max,
        "log_step_count_steps": trainer.log_step_count_steps,
    }
    run_config = tf.estimator.RunConfig(**{**arguments, **run_config})
    return builder(model_cfg, trainer, data, run_config)


def resolve(registry: Registry | str, default_attribute: str) -> Registry:
    """A registry, or the one a "package.module[:ATTRIBUTE]" string names (imported now)."""
    if isinstance(registry, Registry):
        return registry
    module, _, attribute = registry.partition(":")
    return getattr(importlib.import_module(module), attribute or default_attribute)


def export(which: str, estimator, keeper: BestKeeper, data) -> None:
    """The SavedModel(s) trainer.export asks for, in model_dir/export/{best,last}/."""
    from .serving import export_saved_model

    base = files.join(estimator.model_dir, "export")
    best = keeper.best_checkpoint()
    if which in ("best", "both") and best:
        path = export_saved_model(estimator, data, files.join(base, "best"), checkpoint_path=best)
        log.info(
            "SavedModel of the best weights (step %d, %s=%.4g): %s",
            keeper.best_step,
            keeper.monitor.name,
            keeper.best_value,
            path,
        )
    if which in ("last", "both"):
        path = export_saved_model(estimator, data, files.join(base, "last"))
        log.info("SavedModel of the last weights: %s", path)


def paint_learning_curves(cfg: DictConfig, run: runs.Run, painter) -> None:
    """Ask `painter` for the run's learning_curves.png (in model_dir), its best marked."""
    from .plots import LEARNING_CURVES

    best = records.best_record(run.model_dir, cfg)
    painter.paint(run.model_dir, files.join(run.model_dir, LEARNING_CURVES), best["monitor"], best)


def record_run(cfg: DictConfig, run: runs.Run, results: dict, wall_time_s: float, painter) -> None:
    """What people read after training: learning_curves.png, TensorBoard HParams, result.json.

    The picture (asked of `painter`) goes to model_dir (a resume redraws the run's own);
    result.json goes to this invocation's folder, last: it marks the job as finished for
    the report.
    """
    from .hparams import write_hparams

    os.makedirs(run.record_dir, exist_ok=True)
    write_hparams(run.model_dir, cfg, files.basename(run.record_dir))
    log.info("learning curves: %s", painter.wait())
    records.write_result(run.record_dir, run.model_dir, cfg, results["metrics"], wall_time_s)


def _results(keeper: BestKeeper, latest: dict | None, *, stopped_early: bool) -> dict:
    return {
        "monitor": keeper.monitor.name,
        "mode": keeper.monitor.mode,
        "best": keeper.best_value,
        "best_step": keeper.best_step,
        "metrics": dict(latest or keeper.record["metrics"] or {}),
        "stopped_early": stopped_early,
    }


def _train_and_evaluate(cfg, settings, run: runs.Run, models, datasets, started) -> dict:
    """evaluator=checkpoint: tf.estimator.train_and_evaluate, alone or as a cluster task."""
    from .cluster import check_cluster_config
    from .plots import Painter

    task = check_cluster_config(os.environ.get("TF_CONFIG"))  # before TensorFlow reads it
    # The process that evaluates (alone, a cluster's evaluator task, or a legacy master)
    # leaves the run's picture and result.json, as in-memory training does; the others do not.
    with Painter() if task.evaluates else contextlib.nullcontext() as painter:
        data = load_dataset(settings.data, datasets)
        _load_tensorflow(settings.runtime)
        from .checkpoint import mark_done, train_and_evaluate

        log.info("model_dir: %s", run.model_dir)
        if task.starts_run:  # the one task that starts the run
            runs.store_config(cfg, run)
        estimator = build_estimator(
            settings.model,
            settings.trainer,
            data,
            run.model_dir,
            models,
            keep_checkpoint_max=0,  # the evaluator deletes them once read: see checkpoint.py
            experimental_max_worker_delay_secs=settings.evaluator.max_worker_delay_secs,
        )
        results = train_and_evaluate(
            estimator,
            settings,
            data,
            task,
            resuming=run.resuming,
            record=record_evaluation,
        )
        if painter is not None:
            paint_learning_curves(cfg, run, painter)
            record_run(cfg, run, results, time.monotonic() - started, painter)
        if task.type == "evaluator":  # last: the chief and the ps tasks wait for this
            step = results["metrics"].get("global_step", 0)
            mark_done(run.model_dir, task, settings.trainer.max_steps, step)
        return results


def _load_tensorflow(runtime: config.Runtime) -> None:
    """Import TensorFlow (only once the config is known to be good) and check the machine."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ start-up chatter
    import tensorflow as tf

    # TensorFlow keeps one summary writer per folder for the whole process, and one whose
    # folder was deleted since (a notebook that removes its model_dir and trains again)
    # goes on writing to the deleted file: that run's training and eval summaries were
    # lost. This run's writers start afresh.
    tf.compat.v1.summary.FileWriterCache.clear()

    from .guards import check_runtime

    check_runtime()  # before anything imports Estimator or Keras
    tf.get_logger().setLevel(logging.ERROR)  # Estimator code is one long deprecation warning
    devices = [d.name.replace("/physical_device:", "") for d in tf.config.list_physical_devices()]
    log.info("TensorFlow %s sees %s", tf.__version__, ", ".join(devices))
    if runtime.require_gpu and not tf.config.list_physical_devices("GPU"):
        raise RuntimeRequirementError(
            f"runtime.require_gpu=true, but TensorFlow sees no GPU (only {', '.join(devices)}). "
            "In Docker, run with --gpus all on a host with the NVIDIA Container Toolkit; "
            "with pip, install the gpu extra; or set runtime.require_gpu=false to train on CPU"
        )


def record_evaluation(model_dir: str, improved_at):
    """Log each evaluation as one line and append it to evaluations.jsonl, marked if it improved.

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
        records.append_evaluation(model_dir, line)

    return record
