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

import json
import math
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from .errors import ConfigError

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
    handle, temporary = tempfile.mkstemp(prefix=".best-", suffix=".json", dir=folder)
    try:
        with os.fdopen(handle, "w") as f:
            json.dump(record, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, folder / RECORD)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
