"""Training with `evaluator=checkpoint`: TensorFlow's `tf.estimator.train_and_evaluate`.

Without `TF_CONFIG` one process trains and evaluates each
new checkpoint (at most every `evaluator.throttle_secs`, and the last one). With a
`TF_CONFIG` cluster (`cluster.check_cluster_config` says which) this process is one task: the
chief and the workers train (between-graph replication, variables on the ps tasks, each
reading its own part of the training data), the ps tasks serve variables until the run no
longer needs them ("How a cluster ends", below), and the evaluator evaluates the newest
checkpoint until it has evaluated the one at `trainer.max_steps`, then ends at once. A
legacy `master` (SageMaker's parameter-server mode) trains and evaluates each new
checkpoint itself, as Estimator's run_master does.

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

import json
import logging
import os
import sys
import threading
import time
from types import SimpleNamespace

import tensorflow as tf

from . import checkpoints, files, tf_internals
from .best import BestTracker, Monitor, read_record, write_record
from .cluster import KNOWN_JOBS, ClusterTask
from .errors import ChiefNotStartedError

log = logging.getLogger(__name__)
# model_dir/done/<role>.json: written by a task when its part of the run is over (see
# "How a cluster ends" below).
DONE_DIR = "done"
# How often a ps task (and a waiting chief) looks at model_dir/done/: on a local or shared
# disk at once; in a bucket every few seconds (each look is a request, billed).
POLL_SECS, POLL_REMOTE_SECS = 0.5, 5.0


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
    config = estimator.config
    train_spec = tf.estimator.TrainSpec(
        train_input_fn(data, trainer.batch_size, trainer.seed, shards, shard),
        max_steps=trainer.max_steps,
        hooks=[
            *(
                [WaitForChiefHook(config.master, config.session_config, model_dir=model_dir)]
                if task.type == "worker"
                else []
            ),
            CountStepsHook(task.name if task.type else "training"),
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
    log.info("train_and_evaluate as %s", task.describe())
    if resuming and task.starts_run:  # the trainer that restores the checkpoint
        from .guards import check_resume, checking_training_graph

        checkpoint = tf.train.latest_checkpoint(model_dir)
        estimator = checking_training_graph(
            estimator, lambda graph: check_resume(graph, checkpoint)
        )
    if task.type == "ps":
        _exit_when_done(model_dir, task, trainer.max_steps)  # a thread: run_ps never returns
    # tf.estimator.train_and_evaluate, with a listener that ends the evaluator task right
    # after its final evaluation instead of after one more throttle_secs sleep.
    executor = tf_internals.TrainingExecutor(
        estimator,
        train_spec,
        eval_spec,
        continuous_eval_listener=(
            StopAfterFinalEvaluation(trainer.max_steps) if task.type == "evaluator" else None
        ),
    )
    result = executor.run()
    metrics = result[0] if isinstance(result, tuple) else result  # local: (metrics, exports)
    if task.trains and task.type is not None:
        step = checkpoints.step_of(tf.train.latest_checkpoint(model_dir) or "") or 0
        mark_done(model_dir, task, trainer.max_steps, step)
        if task.is_chief and task.evaluator:
            # A TFJob succeeds when its chief ends (kubeflow/training-operator,
            # UpdateJobStatus): the chief ends only once the evaluator has evaluated the
            # final checkpoint, so success means the run is evaluated and exported.
            wait_for(
                model_dir, "evaluator-0", trainer.max_steps, "the evaluator's final evaluation"
            )
    best = read_record(model_dir) or {}
    return {
        "monitor": exporter.monitor.name,
        "mode": exporter.monitor.mode,
        "best": best.get("value"),
        "best_step": best.get("step"),
        "metrics": plain_metrics(metrics or exporter.latest or {}),
        "stopped_early": False,
    }


class StopAfterFinalEvaluation(tf_internals.ContinuousEvalListener):
    """Ends an evaluator task's loop as soon as it has evaluated a checkpoint at max_steps.

    TensorFlow's evaluator loop sleeps what is left of `throttle_secs` after every
    evaluation, the final one too, and only then sees that it is done: with the default
    10 s, every cluster run idled up to 10 s at its end.
    """

    def __init__(self, max_steps: int):
        super().__init__()
        self.max_steps = max_steps

    def after_eval(self, eval_result) -> bool:
        if eval_result is None or eval_result.status != tf_internals.EVALUATED:
            return True
        step = eval_result.metrics.get(tf.compat.v1.GraphKeys.GLOBAL_STEP, 0)
        return not step >= self.max_steps


# How a cluster ends.
#
# TensorFlow never stops a ps task (run_ps joins its server forever), and orchestrators
# expect every pod or process to end by itself. So each task says in model_dir when its
# part is over, and the ps tasks read it there, where every task already looks (a marker
# in model_dir works on a shared disk and in a bucket alike, and survives a task's
# restart; a timer would guess, and a network message would need a server of ours):
# - a chief, master or worker writes done/<type>-<index>.json once its training ends
#   (the chief: after its final checkpoint);
# - the evaluator writes done/evaluator-0.json after its final evaluation, its exports and
#   its result.json (training._train_and_evaluate);
# - a ps task polls done/ from a thread and exits 0 once the chief, every worker and, if
#   the cluster lists one, the evaluator are done for this run's trainer.max_steps (a
#   marker of an earlier run with fewer steps does not count);
# - a chief whose cluster lists an evaluator (Kubeflow's shape) waits for the evaluator's
#   marker before it exits: a TFJob succeeds when its chief ends.


def _marker(model_dir: str, role: str) -> str:
    return files.join(model_dir, DONE_DIR, f"{role}.json")


def mark_done(model_dir: str, task: ClusterTask, max_steps: int, step: int) -> None:
    """Record in model_dir that `task` has done its part of a run to `max_steps`."""
    files.makedirs(files.join(model_dir, DONE_DIR))
    text = json.dumps(
        {"task": task.name, "max_steps": max_steps, "step": step, "time": time.time()}
    )
    files.write_text(_marker(model_dir, task.name.replace(":", "-")), text + "\n")


def is_done(model_dir: str, role: str, max_steps: int) -> bool:
    """Whether `role` ("chief-0", "evaluator-0", ...) marked its part of a run to max_steps done."""
    path = _marker(model_dir, role)
    try:
        return files.isfile(path) and json.loads(files.read_text(path))["max_steps"] >= max_steps
    except (ValueError, KeyError, OSError):
        return False  # being replaced, or not ours: look again


def roles_to_wait_for(tf_config: str | None) -> list[str]:
    """The markers a ps task waits for: every chief, master and worker, and the evaluator
    if the cluster lists one."""
    from .guards import parse_tf_config

    cluster, _ = parse_tf_config(tf_config)
    return [
        f"{job}-{index}"
        for job in KNOWN_JOBS
        if job != "ps"
        for index in range(len(cluster.get(job, [])))
    ]


def wait_for(model_dir: str, role: str, max_steps: int, what: str) -> None:
    """Wait until `role` is done (logging what this task waits for every minute)."""
    started = last_said = time.monotonic()
    log.info("waiting for %s (%s)", what, _marker(model_dir, role))
    while not is_done(model_dir, role, max_steps):
        time.sleep(_poll_secs(model_dir))
        if time.monotonic() - last_said > 60:
            last_said = time.monotonic()
            log.info("still waiting for %s (%.0f s)", what, last_said - started)
    log.info("%s is done", what)


def _poll_secs(model_dir: str) -> float:
    return POLL_REMOTE_SECS if files.is_remote(model_dir) else POLL_SECS


def _exit_when_done(model_dir: str, task: ClusterTask, max_steps: int) -> None:
    """Start the thread that ends this ps task once the run no longer needs it."""
    roles = roles_to_wait_for(os.environ.get("TF_CONFIG"))

    def watch() -> None:
        pending = list(roles)
        while pending:
            pending = [role for role in pending if not is_done(model_dir, role, max_steps)]
            if pending:
                time.sleep(_poll_secs(model_dir))
        log.info("%s: %s are done: this ps task exits", task.name, ", ".join(roles))
        # The main thread is inside TensorFlow's server.join(), which never returns and
        # cannot be interrupted from Python: flush the logs, then end the process.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    threading.Thread(target=watch, name="ps-exit", daemon=True).start()


class WaitForChiefHook(tf.estimator.SessionRunHook):
    """A worker starts its session only once the chief has initialised (or restored) the
    variables on the ps tasks.

    A worker session that finds them uninitialised sleeps 30 s before it looks again
    (SessionManager's recovery_wait_secs, not configurable through Estimator). On a fresh
    run a worker started with the chief would miss a short training; on a resumed one the
    chief restores the checkpoint after the ps tasks start, so every worker sat idle 30 s
    while the chief trained alone. This hook runs the same readiness check
    (`report_uninitialized_variables`) through the worker's own master every `poll_secs`
    before the session is created, so that session finds the variables ready.
    """

    def __init__(
        self,
        master: str,
        session_config=None,
        *,
        model_dir: str = "",
        timeout_secs: float = 1800,
        poll_secs: float = 0.25,
    ):
        self.master, self.session_config = master, session_config
        self.model_dir, self.timeout_secs, self.poll_secs = model_dir, timeout_secs, poll_secs

    def begin(self):
        not_ready = tf.compat.v1.report_uninitialized_variables(tf.compat.v1.global_variables())
        deadline = time.monotonic() + self.timeout_secs
        with tf.compat.v1.Session(
            self.master, graph=tf.compat.v1.get_default_graph(), config=self.session_config
        ) as session:
            if len(session.run(not_ready)):
                log.info("waiting for the chief to initialise or restore the variables")
            while len(session.run(not_ready)):
                if time.monotonic() > deadline:
                    raise ChiefNotStartedError(
                        f"the chief did not initialise the variables within "
                        f"{self.timeout_secs:.0f} s: is the chief running, and do all tasks "
                        f"share the model_dir {self.model_dir}?"
                    )
                time.sleep(self.poll_secs)


class CountStepsHook(tf.estimator.SessionRunHook):
    """Logs at the end how many of the global steps this task ran (every worker should)."""

    def __init__(self, name: str):
        self.name, self.steps = name, 0

    def after_run(self, run_context, run_values):
        self.steps += 1
        if self.steps == 1:  # when a task really starts training (benchmarks/cluster.py)
            log.info("%s ran its first training step", self.name)

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
        self.latest: dict | None = None  # the last evaluation's metrics
        self._monitor_checked = False

    @property
    def name(self) -> str:
        return "best"  # train_and_evaluate's export_path: model_dir/export/best

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        metrics = plain_metrics(eval_result)
        self.latest = metrics
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
            entry["export"] = files.relpath(exported, self.model_dir)
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
