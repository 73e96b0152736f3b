"""Which evaluation is the best so far, and the `best/` folder that keeps it.

Library code (no need to edit). Both evaluators use it: the in-memory evaluator writes the
best weights as soon as they are evaluated (`inmemory.best_keeper`), the checkpoint
evaluator (`evaluator=checkpoint`) exports the best evaluated checkpoint.

`model_dir/best/best.json` is the record, always replaced whole (written to a temporary
name, then renamed), so `kill -9` at any moment leaves the old record or the new one:

    {"step": 400, "monitor": "accuracy", "mode": "max", "value": 0.97,
     "metrics": {...}, "checkpoint": "model.ckpt-400", "kept": [...],
     "evaluations_without_improvement": 2, "early_stopped": null}
"""

from __future__ import annotations

import copy
import json
import math
import queue
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from .errors import ConfigError
from .files import replaced_whole

# The metric a task is judged by when evaluator.monitor is null.
TASK_MONITOR = {"classification": "accuracy", "regression": "average_loss"}
# Keras's rule for mode=auto: these grow as the model improves; everything else shrinks.
HIGHER_IS_BETTER = ("acc", "accuracy", "auc", "precision", "recall", "f1", "r2")
BEST_DIR = "best"
RECORD = "best.json"


class UnknownMonitorError(ConfigError):
    """evaluator.monitor names a metric the model's evaluation does not produce."""


@dataclass(frozen=True)
class Monitor:
    """The metric that decides "better", its direction, and the smallest change that counts."""

    name: str
    mode: str  # "max" or "min"
    min_delta: float = 0.0

    @classmethod
    def from_config(cls, evaluator: DictConfig, task: str = "classification") -> Monitor:
        name = evaluator.get("monitor") or TASK_MONITOR[task]
        mode = evaluator.get("mode") or "auto"
        if mode == "auto":
            mode = "max" if name.lower().split("/")[-1] in HIGHER_IS_BETTER else "min"
        return cls(name, mode, float(evaluator.get("min_delta") or 0.0))

    def improves(self, value: float, best: float | None) -> bool:
        """True when `value` beats `best` by more than min_delta (any number beats None)."""
        if value is None or math.isnan(value):
            return False
        if best is None:
            return True
        if self.mode == "max":
            return value - best > self.min_delta
        return best - value > self.min_delta

    def check_produced(self, metric_names) -> None:
        """Refuse, before training, a monitor the evaluation does not produce."""
        names = sorted(n for n in metric_names if n != "global_step")
        if self.name not in names:
            raise UnknownMonitorError(
                f"evaluator.monitor={self.name!r} is not a metric this model's evaluation "
                f"produces; it produces {', '.join(names)}: set evaluator.monitor to one of them"
            )


def best_dir(model_dir) -> Path:
    return Path(model_dir) / BEST_DIR


def read_record(model_dir) -> dict | None:
    """The run's best.json, or None when it has none."""
    path = best_dir(model_dir) / RECORD
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def write_record(model_dir, record: dict) -> None:
    """Replace best.json atomically: a temporary file in the same folder, then a rename."""
    folder = best_dir(model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with replaced_whole(folder / RECORD) as f:
        json.dump(record, f, indent=1, sort_keys=True)


class BestKeeper:
    """An evaluation callback: keeps the best evaluated weights, and stops on a plateau.

    Called on the training thread after each evaluation. It decides at once whether the
    evaluation improved (and whether training should stop); the evaluated weights, when
    they rank among the `keep` best, are handed to one writer thread that saves them as a
    checkpoint in `model_dir/best/`, then replaces `best.json`, then removes checkpoints
    that fell out of the record. Training goes on while the writer writes. A run resumed
    on the same model_dir continues from the record: best value, its step, and the count
    of evaluations without improvement.
    """

    def __init__(
        self,
        model_dir,
        monitor: Monitor,
        *,
        keep: int = 1,
        patience: int | None = None,
        max_steps: int | None = None,
    ):
        self.folder = best_dir(model_dir)
        self.monitor = monitor
        self.keep = keep
        self.patience = patience
        self.max_steps = max_steps
        self.improved: dict[int, bool] = {}  # global step -> did that evaluation improve
        record = read_record(model_dir)
        if record is not None and (record["monitor"], record["mode"]) != (
            monitor.name,
            monitor.mode,
        ):
            raise ConfigError(
                f"{self.folder} tracks {record['monitor']} ({record['mode']}), not "
                f"{monitor.name} ({monitor.mode}): resume with evaluator.monitor="
                f"{record['monitor']} evaluator.mode={record['mode']}, or start a new run"
            )
        # A record the checkpoint evaluator wrote has only the best's own fields, and its
        # checkpoint is model_dir's, not one in best/.
        if record is not None and "kept" not in record:
            record = {**record, "checkpoint": None}
        self.record = {**self._empty(monitor), **(record or {})}
        self._model_dir = model_dir
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._writer = threading.Thread(target=self._write_loop, name="best-writer", daemon=True)
        self._writer.start()
        if self.folder.is_dir():  # a resumed run: tidy what a kill may have left
            for stale in self.folder.glob(".best-*.json"):
                stale.unlink(missing_ok=True)
            _remove_unlisted(self.folder, self.record)
            if record is not None:
                self._queue.put((copy.deepcopy(self.record), None, None))

    @staticmethod
    def _empty(monitor: Monitor) -> dict:
        return {
            "monitor": monitor.name,
            "mode": monitor.mode,
            "min_delta": monitor.min_delta,
            "step": None,
            "value": None,
            "metrics": None,
            "checkpoint": None,
            "kept": [],
            "evaluations_without_improvement": 0,
            "last_step": None,
            "early_stopped": None,
        }

    @property
    def best_step(self) -> int | None:
        return self.record["step"]

    @property
    def best_value(self) -> float | None:
        return self.record["value"]

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

    def __call__(self, evaluation) -> None:
        self._raise_writer_error()
        value = evaluation.metrics[self.monitor.name]
        record = self.record
        improved = self.monitor.improves(value, record["value"])
        self.improved[evaluation.step] = improved
        if improved:
            record.update(step=evaluation.step, value=value, metrics=dict(evaluation.metrics))
            record["checkpoint"] = _checkpoint_name(evaluation.step)
            record["evaluations_without_improvement"] = 0
        else:
            record["evaluations_without_improvement"] += 1
        record["last_step"] = evaluation.step
        weights = None
        if self._ranks_among_kept(evaluation.step, value):
            weights = evaluation.weights()
            kept = [k for k in record["kept"] if k["step"] != evaluation.step]
            kept.append(
                {
                    "step": evaluation.step,
                    "value": value,
                    "checkpoint": _checkpoint_name(evaluation.step),
                }
            )
            kept.sort(key=lambda k: k["value"], reverse=self.monitor.mode == "max")
            # The best (record["checkpoint"]) always stays, whatever `keep` says.
            best = [k for k in kept if k["checkpoint"] == record["checkpoint"]]
            record["kept"] = (best + [k for k in kept if k not in best])[: max(self.keep, 1)]
        waited = record["evaluations_without_improvement"]
        if self.patience is not None and waited >= self.patience:
            record["early_stopped"] = {
                "step": evaluation.step,
                "patience": self.patience,
                "max_steps": self.max_steps,
            }
            evaluation.request_stop(
                f"early stopping at step {evaluation.step}: {self.monitor.name} has not "
                f"improved by more than {self.monitor.min_delta:g} in {waited} evaluations "
                f"(best {record['value']:.4g} at step {record['step']})"
            )
        self._queue.put((copy.deepcopy(record), evaluation.step, weights))

    def close(self) -> None:
        """Wait until everything is written; raise what the writer could not write."""
        if self._writer.is_alive():
            self._queue.put(None)
            self._writer.join()
        self._raise_writer_error()

    def best_checkpoint(self) -> str | None:
        """The path prefix of the best checkpoint (for evaluate() or export), or None."""
        name = self.record["checkpoint"]
        return str(self.folder / name) if name else None

    # Internals

    def _ranks_among_kept(self, step: int, value: float) -> bool:
        if value is None or math.isnan(value):
            return False
        if self.record["checkpoint"] == _checkpoint_name(step):
            return True  # the new best
        # The best holds one of the `keep` places; the others go to the next best values.
        others = [
            k
            for k in self.record["kept"]
            if k["step"] != step and k["checkpoint"] != self.record["checkpoint"]
        ]
        if len(others) < self.keep - 1:
            return True
        if not others:
            return False
        worst = others[-1]["value"]
        return value > worst if self.monitor.mode == "max" else value < worst

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

    def _write(self, record: dict, step: int, weights: dict | None) -> None:
        if weights is not None:
            _save_checkpoint(self.folder / _checkpoint_name(step), weights)
        write_record(self._model_dir, record)
        _point_checkpoint_state_at(self.folder, record)
        _remove_unlisted(self.folder, record)


def _checkpoint_name(step: int) -> str:
    return f"model.ckpt-{step}"


def _save_checkpoint(prefix: Path, weights: dict) -> None:
    """Write {checkpoint name: array} as a TF checkpoint, from this (non-training) thread.

    SaveV2 runs eagerly here (graph mode is per thread), straight from the host copies of
    the evaluated weights, so the training session is not involved.
    """
    import tensorflow as tf

    names = sorted(weights)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    tf.raw_ops.SaveV2(
        prefix=str(prefix),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[weights[name] for name in names],
    )


def _point_checkpoint_state_at(folder: Path, record: dict) -> None:
    """The `checkpoint` file, so tf.train.latest_checkpoint(best/) is the best checkpoint."""
    import tensorflow as tf

    if record["checkpoint"]:
        tf.compat.v1.train.update_checkpoint_state(
            str(folder),
            record["checkpoint"],
            all_model_checkpoint_paths=[k["checkpoint"] for k in record["kept"]],
        )


def _remove_unlisted(folder: Path, record: dict) -> None:
    """Checkpoint files the record does not list: fallen out of the k best, or left by a kill."""
    listed = {k["checkpoint"] for k in record["kept"]}
    for path in folder.glob("model.ckpt-*"):
        if re.match(r"model\.ckpt-\d+", path.name).group(0) not in listed:
            path.unlink(missing_ok=True)
