"""Which evaluation is the best so far, early stopping, and the `best/` folder that keeps it.

Both evaluators decide "better" the same way, through one `BestTracker` and one record,
`model_dir/best/best.json`:

    {"monitor": "accuracy", "mode": "max", "min_delta": 0.0,
     "step": 400, "value": 0.97, "metrics": {...},        # the best evaluation
     "kept": [{"step": 400, "value": 0.97, "checkpoint": "model.ckpt-400", "export": null}],
     "evaluations_without_improvement": 2, "last_step": 600, "early_stopped": null}

- in memory, `BestKeeper` (an evaluation callback) writes the `keep_best` best evaluated
  weights as checkpoints in `best/` (`kept[].checkpoint`) and stops training on a plateau;
- from checkpoints, `checkpoint.CheckpointEvaluationExporter` exports the `keep_best` best
  checkpoints as SavedModels (`kept[].export`, relative to model_dir).

The record is always replaced whole (`files.replaced_whole`), so `kill -9` at any moment
leaves the old record or the new one, and a run resumed on the same model_dir continues
from it: best value, its step, and the count of evaluations without improvement. Resumed
from a checkpoint older than its last evaluations, the run rewinds the count to the
surviving trajectory (`rewind`); the best, and its weights in best/, stay.
"""

from __future__ import annotations

import copy
import json
import math
import os
import queue
import threading
from dataclasses import dataclass

from . import checkpoints, files
from .errors import ConfigError, UnknownMonitorError

# The metric a task is judged by when evaluator.monitor is null.
TASK_MONITOR = {"classification": "accuracy", "regression": "average_loss"}
# Keras's rule for mode=auto: these grow as the model improves; everything else shrinks.
HIGHER_IS_BETTER = ("acc", "accuracy", "auc", "precision", "recall", "f1", "r2")
BEST_DIR = "best"
RECORD = "best.json"


@dataclass(frozen=True)
class Monitor:
    """The metric that decides "better", its direction, and the smallest change that counts."""

    name: str
    mode: str  # "max" or "min"
    min_delta: float = 0.0

    @classmethod
    def create(
        cls, monitor: str | None, mode: str = "auto", min_delta: float = 0.0, task: str = ""
    ) -> Monitor:
        """`monitor` (None: the task's own metric) with mode "auto" resolved."""
        name = monitor or TASK_MONITOR.get(task, "accuracy")
        if mode == "auto":
            mode = "max" if name.lower().split("/")[-1] in HIGHER_IS_BETTER else "min"
        return cls(name, mode, float(min_delta or 0.0))

    @classmethod
    def of(cls, evaluator, task: str = "classification") -> Monitor:
        """The monitor an evaluator config (`monitor`, `mode`, `min_delta`) describes."""
        return cls.create(evaluator.monitor, evaluator.mode, evaluator.min_delta, task)

    def improves(self, value: float | None, best: float | None) -> bool:
        """True when `value` beats `best` by more than min_delta (any number beats None)."""
        if value is None or math.isnan(value):
            return False
        if best is None:
            return True
        if self.mode == "max":
            return value - best > self.min_delta
        return best - value > self.min_delta

    def ranks(self, value: float, than: float) -> bool:
        """Whether `value` is better than `than` at all (for ranking the kept ones)."""
        return value > than if self.mode == "max" else value < than

    def check_produced(self, metric_names) -> None:
        """Refuse, before training, a monitor the evaluation does not produce."""
        names = sorted(n for n in metric_names if n != "global_step")
        if self.name not in names:
            raise UnknownMonitorError(
                f"evaluator.monitor={self.name!r} is not a metric this model's evaluation "
                f"produces; it produces {', '.join(names)}: set evaluator.monitor to one of them"
            )


def best_dir(model_dir: str) -> str:
    return files.join(model_dir, BEST_DIR)


def read_record(model_dir: str) -> dict | None:
    """The run's best.json, or None when it has none."""
    path = files.join(best_dir(model_dir), RECORD)
    if not files.isfile(path):
        return None
    return json.loads(files.read_text(path))


def write_record(model_dir: str, record: dict) -> None:
    """Replace best.json whole: a temporary file in the same folder, then a rename."""
    folder = best_dir(model_dir)
    files.makedirs(folder)
    files.write_text(files.join(folder, RECORD), json.dumps(record, indent=1, sort_keys=True))


def empty_record(monitor: Monitor) -> dict:
    return {
        "monitor": monitor.name,
        "mode": monitor.mode,
        "min_delta": monitor.min_delta,
        "step": None,
        "value": None,
        "metrics": None,
        "kept": [],
        "evaluations_without_improvement": 0,
        "last_step": None,
        "early_stopped": None,
    }


@dataclass(frozen=True)
class Verdict:
    """What one evaluation means: whether it improved, and whether it ranks among the kept."""

    improved: bool
    kept: bool
    dropped: tuple  # the kept entries it pushed out (their files are to be removed)
    stop_reason: str | None  # patience ran out


class BestTracker:
    """The best evaluation so far, the `keep` best, and the count towards `patience`.

    `judge(step, metrics)` updates `record` (the best.json layout above) and returns a
    `Verdict`; the caller writes the files the verdict asks for, then the record.
    """

    def __init__(
        self,
        monitor: Monitor,
        record: dict | None = None,
        *,
        keep: int = 1,
        patience: int | None = None,
        max_steps: int | None = None,
        where: str = "best/best.json",
    ):
        if record is not None and (record.get("monitor"), record.get("mode")) != (
            monitor.name,
            monitor.mode,
        ):
            raise ConfigError(
                f"{where} tracks {record.get('monitor')} ({record.get('mode')}), not "
                f"{monitor.name} ({monitor.mode}): resume with evaluator.monitor="
                f"{record.get('monitor')} evaluator.mode={record.get('mode')}, or start a new run"
            )
        self.monitor, self.keep = monitor, max(keep, 1)
        self.patience, self.max_steps = patience, max_steps
        self.record = {**empty_record(monitor), **(record or {}), "min_delta": monitor.min_delta}

    def judge(self, step: int, metrics: dict) -> Verdict:
        record = self.record
        value = metrics.get(self.monitor.name)
        improved = self.monitor.improves(value, record["value"])
        if improved:
            record.update(step=step, value=value, metrics=dict(metrics))
            record["evaluations_without_improvement"] = 0
        else:
            record["evaluations_without_improvement"] += 1
        record["last_step"] = step
        kept, dropped = self._rank(step, value, improved)
        stop_reason = None
        waited = record["evaluations_without_improvement"]
        if self.patience is not None and waited >= self.patience:
            record["early_stopped"] = {
                "step": step,
                "patience": self.patience,
                "max_steps": self.max_steps,
            }
            stop_reason = (
                f"early stopping at step {step}: {self.monitor.name} has not improved by "
                f"more than {self.monitor.min_delta:g} in {waited} evaluations (best "
                f"{record['value']:.4g} at step {record['step']})"
            )
        return Verdict(improved, kept, tuple(dropped), stop_reason)

    def entry(self, step: int) -> dict | None:
        """The kept entry of `step` (to fill in its checkpoint or export), or None."""
        return next((k for k in self.record["kept"] if k["step"] == step), None)

    @property
    def best_entry(self) -> dict | None:
        return self.entry(self.record["step"]) if self.record["step"] is not None else None

    def continue_after_early_stop(self, max_steps: int, patience: int | None) -> bool:
        """May a resumed, early-stopped run train further? Only with more steps or patience.

        More max_steps give patience a fresh count; more patience (or none) keeps the count.
        """
        stopped = self.record["early_stopped"]
        if stopped is None:
            return True
        if max_steps > stopped["max_steps"]:
            self.record["evaluations_without_improvement"] = 0
        elif patience is not None and patience <= stopped["patience"]:
            return False
        self.record["early_stopped"] = None
        return True

    def rewind(self, step: int, superseded: list[dict]) -> None:
        """Forget the evaluations past `step`: a run resumed from its checkpoint of `step`.

        `superseded` are the records of this evaluation's lost evaluations (past `step`).
        The count towards patience becomes that of the surviving trajectory: the evaluations
        after the best that did not beat it. The best and the kept entries stay, also one
        from the lost evaluations: their weights were evaluated and written to best/. An
        early stop past `step` is forgotten with the evaluations that made it.
        """
        record = self.record
        lost = [r for r in superseded if isinstance(r.get("step"), int) and r["step"] > step]
        if not lost:
            return
        best = record["step"]
        if best is not None and best > step:
            waited = 0  # no surviving evaluation comes after the best
        else:
            waited = record["evaluations_without_improvement"] - len(lost)
        record["evaluations_without_improvement"] = max(waited, 0)
        if record["last_step"] is not None and record["last_step"] > step:
            record["last_step"] = step
        if record["early_stopped"] and record["early_stopped"]["step"] > step:
            record["early_stopped"] = None

    def _rank(self, step: int, value, improved: bool) -> tuple[bool, list]:
        """Place the evaluation among the kept ones, if it ranks; return (kept, dropped)."""
        if value is None or math.isnan(value):
            return False, []
        kept = [k for k in self.record["kept"] if k["step"] != step]
        best_step = self.record["step"]
        # The best holds one of the `keep` places; the others go to the next best values.
        others = [k for k in kept if k["step"] != best_step]
        if not improved:
            room = len(others) < self.keep - 1
            if not room and not (others and self.monitor.ranks(value, others[-1]["value"])):
                return False, []
        kept.append({"step": step, "value": value, "checkpoint": None, "export": None})
        kept.sort(key=lambda k: k["value"], reverse=self.monitor.mode == "max")
        best = [k for k in kept if k["step"] == best_step]
        ordered = best + [k for k in kept if k["step"] != best_step]
        self.record["kept"] = ordered[: self.keep]
        # Not kept after all when `keep` shrank since the record was written (a resume with
        # a smaller keep_best): the older entries it outranks still fill the places.
        return any(k["step"] == step for k in self.record["kept"]), ordered[self.keep :]


class BestKeeper:
    """An evaluation callback: keeps the best evaluated weights, and stops on a plateau.

    Called on the training thread after each evaluation. It decides at once whether the
    evaluation improved (and whether training should stop); the evaluated weights, when
    they rank among the `keep` best, are handed to one writer thread that saves them as a
    checkpoint in `model_dir/best/`, then replaces `best.json`, then removes checkpoints
    that fell out of the record. Training goes on while the writer writes.
    """

    def __init__(
        self,
        model_dir: str,
        monitor: Monitor,
        *,
        keep: int = 1,
        patience: int | None = None,
        max_steps: int | None = None,
    ):
        self.folder = best_dir(model_dir)
        self._model_dir = model_dir
        record = read_record(model_dir)
        self.tracker = BestTracker(
            monitor,
            record,
            keep=keep,
            patience=patience,
            max_steps=max_steps,
            where=files.join(self.folder, RECORD),
        )
        self.monitor = monitor
        self.improved: dict[int, bool] = {}  # global step -> did that evaluation improve
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, name="best-writer", daemon=True)
        self._writer.start()
        if files.isdir(self.folder):  # a resumed run: tidy what a kill may have left
            for stale in files.temporaries(self.folder, "best"):
                files.remove(stale)
            _remove_unlisted(self.folder, self.record)
            if record is not None:
                self._queue.put((copy.deepcopy(self.record), None, None))

    @property
    def record(self) -> dict:
        return self.tracker.record

    @property
    def best_step(self) -> int | None:
        return self.record["step"]

    @property
    def best_value(self) -> float | None:
        return self.record["value"]

    def continue_after_early_stop(self, max_steps: int, patience: int | None) -> bool:
        return self.tracker.continue_after_early_stop(max_steps, patience)

    def rewind(self, step: int, superseded: list[dict]) -> None:
        """`BestTracker.rewind`, and best.json rewritten to say so."""
        self._raise_writer_error()
        self.tracker.rewind(step, superseded)
        self._queue.put((copy.deepcopy(self.record), None, None))

    def __call__(self, evaluation) -> None:
        self._raise_writer_error()
        verdict = self.tracker.judge(evaluation.step, evaluation.metrics)
        self.improved[evaluation.step] = verdict.improved
        weights = None
        if verdict.kept:
            weights = evaluation.weights()
            self.tracker.entry(evaluation.step)["checkpoint"] = checkpoints.name(evaluation.step)
        if verdict.stop_reason:
            evaluation.request_stop(verdict.stop_reason)
        self._queue.put((copy.deepcopy(self.record), evaluation.step, weights))

    def close(self) -> None:
        """Wait until everything is written; raise what the writer could not write."""
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        self._raise_writer_error()

    def best_checkpoint(self) -> str | None:
        """The path prefix of the best checkpoint in best/ (for evaluate() or export), or None."""
        entry = self.tracker.best_entry
        if entry is None or not entry.get("checkpoint"):
            return None  # e.g. the best was a checkpoint evaluator's export
        return files.join(self.folder, entry["checkpoint"])

    # Internals

    def _raise_writer_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise RuntimeError(f"writing {self.folder} failed: {error}") from error

    def _write_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._write(*item)
                except Exception as error:  # noqa: BLE001 - re-raised on the training thread
                    self._error = error
            # Let go of the weights before waiting for the next ones: while these are
            # alive, the next evaluation's weights need fresh memory, and the kernel's
            # page faults for 200 MB took 0.6 s on the training thread (freed: 37 ms).
            del item

    def _write(self, record: dict, step: int | None, weights: dict | None) -> None:
        if weights is not None:
            _save_checkpoint(files.join(self.folder, checkpoints.name(step)), weights)
        write_record(self._model_dir, record)
        _point_checkpoint_state_at(self.folder, record)
        _remove_unlisted(self.folder, record)


def _save_checkpoint(prefix: str, weights: dict) -> None:
    """Write {checkpoint name: array} as a TF checkpoint, from this (non-training) thread.

    SaveV2 runs eagerly here (graph mode is per thread), straight from the host copies of
    the evaluated weights, so the training session is not involved.
    """
    import tensorflow as tf

    names = sorted(weights)
    files.makedirs(files.dirname(prefix))
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[weights[name] for name in names],
    )


def _kept_checkpoints(record: dict) -> list[str]:
    return [k["checkpoint"] for k in record["kept"] if k.get("checkpoint")]


def _point_checkpoint_state_at(folder: str, record: dict) -> None:
    """The `checkpoint` file, so tf.train.latest_checkpoint(best/) is the best checkpoint."""
    import tensorflow as tf

    best = next((k for k in record["kept"] if k["step"] == record["step"]), None)
    if best and best.get("checkpoint"):
        # TensorFlow rewrites the names relative to a folder that is not an absolute local
        # path (a bucket's, or a relative one) as if they were relative to the working
        # directory: give it the folder's own paths there, and plain names elsewhere.
        def path(name: str) -> str:
            return name if os.path.isabs(folder) else files.join(folder, name)

        tf.compat.v1.train.update_checkpoint_state(
            folder,
            path(best["checkpoint"]),
            all_model_checkpoint_paths=[path(name) for name in _kept_checkpoints(record)],
        )


def _remove_unlisted(folder: str, record: dict) -> None:
    """Checkpoint files the record does not list: fallen out of the k best, or left by a kill."""
    listed = set(_kept_checkpoints(record))
    for path in files.glob(folder, f"{checkpoints.PREFIX}-*"):
        if checkpoints.prefix_of(path) not in listed:
            files.remove(path)
