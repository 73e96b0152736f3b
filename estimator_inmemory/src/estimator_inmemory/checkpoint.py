"""Training with `evaluator=checkpoint`: TensorFlow's `tf.estimator.train_and_evaluate`.

Without `TF_CONFIG` one process trains and evaluates each
new checkpoint (at most every `evaluator.throttle_secs`, and the last one). With a
`TF_CONFIG` cluster (`cluster.check_cluster_config` says which) this process is one task: the
chief and the workers train (between-graph replication, variables on the ps tasks, each
reading its own part of the training data), the ps tasks serve variables until stopped,
and the evaluator evaluates the newest checkpoint until it has evaluated the one at
`trainer.max_steps`.

After every evaluation, in whichever process evaluates, `CheckpointEvaluationExporter`:
- logs one line and appends to `model_dir/evaluations.jsonl`, as in-memory evaluation does;
- exports the checkpoint as a SavedModel to `export/best/<timestamp>/` when it ranks among
  the `keep_best` best in `model_dir/best/best.json` (`best.BestTracker`, the rule and the
  record in-memory evaluation uses), then replaces the record, so a restarted evaluator
  compares with the best any earlier evaluator exported and never exports a worse model;
- deletes the checkpoints older than the one it evaluated, keeping
  `trainer.keep_checkpoint_max` of them. The chief itself deletes none (its RunConfig's
  keep_checkpoint_max is 0, "keep all"): so no checkpoint disappears before the evaluator
  has read it, however far behind it is (the race of tensorflow#39033).
"""

from __future__ import annotations

import logging
import os
import time
from types import SimpleNamespace

import tensorflow as tf

from . import checkpoints, files
from .best import BestTracker, Monitor, read_record, write_record
from .cluster import ClusterTask
from .errors import ChiefNotStartedError

log = logging.getLogger(__name__)


def train_and_evaluate(
    estimator, settings, data, task: ClusterTask, *, resuming: bool, record
) -> dict:
    """Run this process's part of train_and_evaluate; return the best monitored value and
    the last evaluation's metrics (empty on the chief, workers and ps tasks, which do not
    evaluate).

    `estimator` is built with keep_checkpoint_max=0 (the evaluator prunes); `record` makes
    the per-evaluation callback (`training.record_evaluation`).
    """
    from .data import eval_input_fn, train_input_fn
    from .serving import serving_input_fn

    trainer, evaluator = settings.trainer, settings.evaluator
    model_dir = estimator.model_dir
    shards, shard = task.shard
    train_spec = tf.estimator.TrainSpec(
        train_input_fn(data, trainer.batch_size, trainer.seed, shards, shard),
        max_steps=trainer.max_steps,
        hooks=[
            *([WaitForChiefHook(model_dir)] if task.type == "worker" else []),
            CountStepsHook(f"{task.type}:{task.index}" if task.type else "training"),
        ],
    )
    exporter = CheckpointEvaluationExporter(
        model_dir,
        label=files.basename(estimator.eval_dir(evaluator.name)),
        monitor=Monitor.of(evaluator, data.task),
        serving_input_fn=serving_input_fn(data.n_features),
        export=trainer.export,
        keep_best=evaluator.keep_best,
        keep_checkpoints=trainer.keep_checkpoint_max,
        record=record,
    )
    eval_spec = tf.estimator.EvalSpec(
        eval_input_fn(data, evaluator.batch_size),
        steps=evaluator.steps,
        name=evaluator.name,
        exporters=[exporter],
        start_delay_secs=evaluator.start_delay_secs,
        throttle_secs=evaluator.throttle_secs,
    )
    log.info(
        "train_and_evaluate as %s (training data part %d of %d)",
        f"{task.type}:{task.index}" if task.type else "one process",
        shard + 1,
        shards,
    )
    if resuming and task.type in (None, "chief"):  # the trainer that restores the checkpoint
        from .guards import check_resume, checking_training_graph

        checkpoint = tf.train.latest_checkpoint(model_dir)
        estimator = checking_training_graph(
            estimator, lambda graph: check_resume(graph, checkpoint)
        )
    result = tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
    metrics = result[0] if isinstance(result, tuple) else result  # local: (metrics, exports)
    best = read_record(model_dir) or {}
    return {
        "monitor": exporter.monitor.name,
        "mode": exporter.monitor.mode,
        "best": best.get("value"),
        "best_step": best.get("step"),
        "metrics": plain_metrics(metrics or {}),
        "stopped_early": False,
    }


class WaitForChiefHook(tf.estimator.SessionRunHook):
    """A worker waits, before its session starts, for the chief's first checkpoint.

    A worker whose session finds the variables not yet initialised by the chief sleeps 30 s
    before it looks again (TensorFlow's SessionManager, not configurable through Estimator):
    a worker started with the chief would then miss a short training entirely. The chief
    saves its first checkpoint right after initialising, so once one exists the worker's
    session starts at once. (Resuming a run, the checkpoint is already there: no wait.)
    """

    def __init__(self, model_dir: str, timeout_secs: float = 1800, poll_secs: float = 0.5):
        self.model_dir, self.timeout_secs, self.poll_secs = model_dir, timeout_secs, poll_secs

    def begin(self):
        deadline = time.monotonic() + self.timeout_secs
        if not tf.train.latest_checkpoint(self.model_dir):
            log.info("waiting for the chief's first checkpoint in %s", self.model_dir)
        while not tf.train.latest_checkpoint(self.model_dir):
            if time.monotonic() > deadline:
                raise ChiefNotStartedError(
                    f"no checkpoint appeared in {self.model_dir} within {self.timeout_secs:.0f} "
                    "s: is the chief running, and do all tasks share this model_dir?"
                )
            time.sleep(self.poll_secs)


class CountStepsHook(tf.estimator.SessionRunHook):
    """Logs at the end how many of the global steps this task ran (every worker should)."""

    def __init__(self, name: str):
        self.name, self.steps = name, 0

    def after_run(self, run_context, run_values):
        self.steps += 1

    def end(self, session):
        log.info("%s ran %d training steps", self.name, self.steps)


def plain_metrics(metrics: dict) -> dict:
    """NumPy scalars as Python numbers (for JSON), the global step as an int."""
    return {k: int(v) if k == "global_step" else float(v) for k, v in metrics.items() if _scalar(v)}


def _scalar(value) -> bool:
    return getattr(value, "ndim", 0) == 0 and not isinstance(value, (str, bytes))


class CheckpointEvaluationExporter(tf.estimator.Exporter):
    """What happens after each evaluation of a checkpoint: record, export the best, prune."""

    def __init__(
        self,
        model_dir: str,
        *,
        label: str,
        monitor: Monitor,
        serving_input_fn,
        export: str,
        keep_best: int,
        keep_checkpoints: int,
        record,
    ):
        self.model_dir = model_dir
        self.label, self.monitor = label, monitor
        self.serving_input_fn = serving_input_fn
        self.export_mode, self.keep_best = export, keep_best
        self.keep_checkpoints = keep_checkpoints
        self.record = record
        self._monitor_checked = False

    @property
    def name(self) -> str:
        return "best"  # train_and_evaluate's export_path: model_dir/export/best

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        metrics = plain_metrics(eval_result)
        step = metrics["global_step"]
        if not self._monitor_checked:
            self.monitor.check_produced(metrics)  # a ConfigError naming the metrics there are
            self._monitor_checked = True
        # Read each time: another (restarted) evaluator may have exported since.
        tracker = BestTracker(
            self.monitor, self._comparable(read_record(self.model_dir)), keep=self.keep_best
        )
        verdict = tracker.judge(step, metrics)
        self.record(self.model_dir, lambda _: verdict.improved)(
            SimpleNamespace(label=self.label, step=step, metrics=metrics)
        )
        newest = max(checkpoints.steps(self.model_dir), default=step)
        log.info(
            "evaluated checkpoint %d; newest checkpoint: %d (evaluation lag %d steps)",
            step,
            newest,
            newest - step,
        )
        exported = None
        if self.export_mode in ("best", "both") and verdict.kept:
            exported = estimator.export_saved_model(
                export_path, self.serving_input_fn, checkpoint_path=checkpoint_path
            ).decode()
            entry = tracker.entry(step)
            # Relative to model_dir: tasks and later readers may mount it elsewhere.
            entry["export"] = os.path.relpath(exported, self.model_dir)
            entry["checkpoint"] = files.basename(checkpoint_path)
        # The record after the export: killed in between, the next evaluator re-exports.
        write_record(self.model_dir, tracker.record)
        for dropped in verdict.dropped:
            if dropped.get("export"):
                files.rmtree(files.join(self.model_dir, dropped["export"]))
        if verdict.improved:
            log.info(
                "best %s=%.4g so far (step %d)%s",
                self.monitor.name,
                metrics[self.monitor.name],
                step,
                f": SavedModel {exported}" if exported else "",
            )
        if is_the_final_export and self.export_mode in ("last", "both"):
            last = estimator.export_saved_model(
                files.join(self.model_dir, "export", "last"),
                self.serving_input_fn,
                checkpoint_path=checkpoint_path,
            )
            log.info("SavedModel of the last checkpoint (step %d): %s", step, last.decode())
        prune_checkpoints(self.model_dir, step, self.keep_checkpoints)
        return exported

    def _comparable(self, record: dict | None) -> dict | None:
        """The record, if it was judged by this monitor (else a fresh start)."""
        if record and (record.get("monitor"), record.get("mode")) == (
            self.monitor.name,
            self.monitor.mode,
        ):
            return record
        return None


def prune_checkpoints(model_dir: str, evaluated_step: int, keep: int) -> None:
    """Delete checkpoints older than the evaluated one, keeping `keep` up to and including it.

    Only the evaluator calls this (the chief keeps every checkpoint), and only for steps it
    has passed: newer checkpoints wait for it.
    """
    older = [s for s in checkpoints.steps(model_dir) if s < evaluated_step]
    for step in older[: max(0, len(older) - (keep - 1))]:
        for path in files.glob(model_dir, f"{checkpoints.name(step)}.*"):
            files.remove(path)
