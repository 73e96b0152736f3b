"""Training with `evaluator=checkpoint`: TensorFlow's `tf.estimator.train_and_evaluate`.

Library code (no need to edit). Without `TF_CONFIG` one process trains and evaluates each
new checkpoint (at most every `evaluator.throttle_secs`, and the last one). With a
`TF_CONFIG` cluster (`cluster.check_tf_config` says which) this process is one task: the
chief and the workers train (between-graph replication, variables on the ps tasks, each
reading its own part of the training data), the ps tasks serve variables until stopped,
and the evaluator evaluates the newest checkpoint until it has evaluated the one at
`trainer.max_steps`.

After every evaluation, in whichever process evaluates, `CheckpointEvaluationExporter`:
- logs one line and appends to `model_dir/evaluations.jsonl`, as in-memory evaluation does;
- exports the checkpoint as a SavedModel to `export/best/<timestamp>/` when it beats the
  best in `model_dir/best/best.json` (`best.Monitor`, the rule in-memory evaluation uses),
  then replaces the record, so a restarted evaluator compares with the best any earlier
  evaluator exported and never exports a worse model;
- deletes the checkpoints older than the one it evaluated, keeping
  `trainer.keep_checkpoint_max` of them. The chief itself deletes none (its RunConfig's
  keep_checkpoint_max is 0, "keep all"): so no checkpoint disappears before the evaluator
  has read it, however far behind it is (the race of tensorflow#39033).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import tensorflow as tf
from omegaconf import DictConfig

from .best import Monitor, read_record, write_record
from .cluster import ClusterTask
from .errors import ProjectError
from .runs import JSONL

log = logging.getLogger(__name__)
CHECKPOINT_INDEX = re.compile(r"model\.ckpt-(\d+)\.index$")


class ChiefNotStartedError(ProjectError, RuntimeError):
    """A worker found no checkpoint of the chief's in model_dir in time."""


def train_and_evaluate(
    cfg: DictConfig, model_dir: str, task: ClusterTask, *, resuming: bool = False
) -> dict:
    """Run this process's part of train_and_evaluate; return the best monitored value and
    the last evaluation's metrics (empty on the chief, workers and ps tasks, which do not
    evaluate)."""
    from .data import eval_input_fn, load_dataset, train_input_fn
    from .model import build_estimator, serving_input_fn
    from .train import record_evaluation

    data = load_dataset(cfg.data)
    evaluator = cfg.evaluator
    estimator = build_estimator(
        cfg.model,
        cfg.trainer,
        data,
        model_dir,
        keep_checkpoint_max=0,  # the evaluator deletes them once read: see the docstring
        experimental_max_worker_delay_secs=evaluator.max_worker_delay_secs,
    )
    shards, shard = task.shard
    train_spec = tf.estimator.TrainSpec(
        train_input_fn(data, cfg.trainer.batch_size, cfg.trainer.seed, shards, shard),
        max_steps=cfg.trainer.max_steps,
        hooks=[
            *([WaitForChiefHook(model_dir)] if task.type == "worker" else []),
            CountStepsHook(f"{task.type}:{task.index}" if task.type else "training"),
        ],
    )
    exporter = CheckpointEvaluationExporter(
        model_dir,
        label=Path(estimator.eval_dir(evaluator.name)).name,
        monitor=Monitor.from_config(evaluator, data.task),
        serving_input_fn=serving_input_fn(data.n_features),
        export=cfg.trainer.export,
        keep_best=evaluator.keep_best,
        keep_checkpoints=cfg.trainer.keep_checkpoint_max,
        record=record_evaluation,
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
    train_input = train_spec.input_fn
    if resuming and task.type in (None, "chief"):  # the trainer that restores the checkpoint
        from .inmemory import check_checkpoint_fits

        check_checkpoint_fits(estimator, train_input, tf.train.latest_checkpoint(model_dir))
    result = tf.estimator.train_and_evaluate(estimator, train_spec, eval_spec)
    metrics = result[0] if isinstance(result, tuple) else result  # local: (metrics, exports)
    record = read_record(model_dir) or {}
    return {
        "monitor": exporter.monitor.name,
        "mode": exporter.monitor.mode,
        "best": record.get("value"),
        "best_step": record.get("step"),
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
        model_dir,
        *,
        label: str,
        monitor: Monitor,
        serving_input_fn,
        export: str,
        keep_best: int,
        keep_checkpoints: int,
        record,
    ):
        self.model_dir = Path(model_dir)
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
        best = self._comparable_best(read_record(self.model_dir))
        improved = self.monitor.improves(metrics.get(self.monitor.name), best)
        jsonl = self.model_dir / JSONL
        self.record(jsonl, lambda _: improved)(
            SimpleNamespace(label=self.label, step=step, metrics=metrics)
        )
        newest = max(checkpoint_steps(self.model_dir), default=step)
        log.info(
            "evaluated checkpoint %d; newest checkpoint: %d (evaluation lag %d steps)",
            step,
            newest,
            newest - step,
        )
        if not self._monitor_checked:
            self.monitor.check_produced(metrics)  # a ConfigError naming the metrics there are
            self._monitor_checked = True
        exported = None
        if self.export_mode in ("best", "both"):
            exported = self._export_if_best(estimator, export_path, checkpoint_path, metrics)
        if is_the_final_export and self.export_mode in ("last", "both"):
            last = estimator.export_saved_model(
                str(self.model_dir / "export" / "last"),
                self.serving_input_fn,
                checkpoint_path=checkpoint_path,
            )
            log.info("SavedModel of the last checkpoint (step %d): %s", step, last.decode())
        prune_checkpoints(self.model_dir, step, self.keep_checkpoints)
        return exported

    def _comparable_best(self, record: dict | None) -> float | None:
        """The recorded best value, if it was judged by this monitor."""
        if record and (record.get("monitor"), record.get("mode")) == (
            self.monitor.name,
            self.monitor.mode,
        ):
            return record.get("value")
        return None

    def _export_if_best(self, estimator, export_path, checkpoint_path, metrics) -> str | None:
        record = read_record(self.model_dir)  # read each time: another evaluator may have run
        best = self._comparable_best(record)
        comparable = best is not None
        value = metrics[self.monitor.name]
        if not self.monitor.improves(value, best):
            return None
        exported = estimator.export_saved_model(
            export_path, self.serving_input_fn, checkpoint_path=checkpoint_path
        ).decode()
        # Paths relative to model_dir: tasks and later readers may mount it elsewhere.
        exports = [
            *(record.get("exports", []) if comparable else []),
            os.path.relpath(exported, self.model_dir),
        ]
        for old in exports[: -self.keep_best]:
            shutil.rmtree(self.model_dir / old, ignore_errors=True)
        # The record last: killed before this line, the next evaluator re-exports at worst.
        write_record(
            self.model_dir,
            {
                "step": metrics["global_step"],
                "monitor": self.monitor.name,
                "mode": self.monitor.mode,
                "value": value,
                "metrics": metrics,
                "checkpoint": os.path.basename(checkpoint_path),
                "exports": exports[-self.keep_best :],
            },
        )
        log.info(
            "best %s=%.4g so far (step %d): SavedModel %s",
            self.monitor.name,
            value,
            metrics["global_step"],
            exported,
        )
        return exported


def checkpoint_steps(model_dir) -> list[int]:
    steps = []
    for path in Path(model_dir).glob("model.ckpt-*.index"):
        match = CHECKPOINT_INDEX.search(path.name)
        if match:
            steps.append(int(match.group(1)))
    return sorted(steps)


def prune_checkpoints(model_dir, evaluated_step: int, keep: int) -> None:
    """Delete checkpoints older than the evaluated one, keeping `keep` up to and including it.

    Only the evaluator calls this (the chief keeps every checkpoint), and only for steps it
    has passed: newer checkpoints wait for it.
    """
    older = [s for s in checkpoint_steps(model_dir) if s < evaluated_step]
    for step in older[: max(0, len(older) - (keep - 1))]:
        for path in Path(model_dir).glob(f"model.ckpt-{step}.*"):
            path.unlink(missing_ok=True)
