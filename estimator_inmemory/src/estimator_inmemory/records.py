"""What a run folder holds, read and written without TensorFlow.

A run folder (Hydra's output folder of one job) holds `.hydra/` (config, overrides), the
training's `model_dir` contents (unless `model_dir=` pointed elsewhere), and, once
training finished, `result.json`: final metrics, monitored metric, best value and step,
wall time. A job folder of a sweep without `result.json` did not finish: a failed job.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the hydra extra: the pictures and the live bar work without it
    from omegaconf import DictConfig

from . import files
from .best import Monitor, read_record

JSONL = "evaluations.jsonl"
# Evaluations past the checkpoint a resume starts from: another history (supersede_evaluations).
SUPERSEDED = "evaluations.superseded.jsonl"
RESULT_FILE = "result.json"


def monitor_of(cfg: DictConfig | None) -> Monitor:
    """The run's monitor (evaluator.monitor/mode/min_delta, the task's default metric)."""
    from omegaconf import OmegaConf

    def get(key: str, default=None):
        return OmegaConf.select(cfg, key, default=default) if cfg is not None else default

    return Monitor.create(
        get("evaluator.monitor"),
        get("evaluator.mode", "auto"),
        get("evaluator.min_delta", 0.0),
        get("data.task") or "classification",
    )


def main_label(cfg: DictConfig | None) -> str:
    """The label (summary folder) of the main evaluation: `eval` or `eval_<name>`."""
    if cfg is None:
        return "eval"
    from omegaconf import OmegaConf

    name = OmegaConf.select(cfg, "evaluator.name", default=None)
    return f"eval_{name}" if name else "eval"


def read_evaluations(model_dir: str) -> list[dict]:
    """Every line of `model_dir/evaluations.jsonl` (none if the file is missing)."""
    return [json.loads(line) for line in files.read_lines(files.join(str(model_dir), JSONL))]


def append_evaluation(model_dir: str, record: dict) -> None:
    """Append one evaluation's line to `model_dir/evaluations.jsonl`."""
    files.append_line(files.join(str(model_dir), JSONL), json.dumps(record))


def numeric_metrics(record: dict) -> dict[str, float]:
    """The metric values of an evaluation record (no step, label or flags)."""
    return {
        key: float(value)
        for key, value in record.items()
        if key not in ("eval", "step", "global_step")
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
    }


def best_of(evaluations: list[dict], label: str, metric: str, mode: str) -> dict | None:
    """{"step", "value"} of the best `metric` among the `label` evaluations, or None."""
    candidates = [
        (e["step"], e[metric])
        for e in evaluations
        if e.get("eval") == label and isinstance(e.get(metric), (int, float))
    ]
    candidates = [(s, v) for s, v in candidates if not math.isnan(v)]
    if not candidates:
        return None
    sign = 1 if mode == "max" else -1
    # The earliest step among equals: the first time that value was reached.
    step, value = max(candidates, key=lambda sv: (sign * sv[1], -sv[0]))
    return {"step": step, "value": value}


def best_record(model_dir: str, cfg: DictConfig | None) -> dict:
    """The best monitored value: best/best.json if written, else from evaluations.jsonl."""
    best = read_record(str(model_dir))
    if best is not None:
        return {k: best.get(k) for k in ("monitor", "mode", "step", "value")}
    monitor = monitor_of(cfg)
    found = best_of(read_evaluations(model_dir), main_label(cfg), monitor.name, monitor.mode)
    found = found or {}
    return {
        "monitor": monitor.name,
        "mode": monitor.mode,
        "step": found.get("step"),
        "value": found.get("value"),
    }


def write_result(
    run_dir: str, model_dir: str, cfg: DictConfig, metrics: dict, wall_time_s: float
) -> dict:
    """Write `run_dir/result.json`, the mark of a finished run; return what it holds."""
    result = {
        "model_dir": str(model_dir),
        "metrics": numeric_metrics(metrics),
        "global_step": metrics.get("global_step"),
        "best": best_record(model_dir, cfg),
        "wall_time_s": round(wall_time_s, 3),
    }
    # Replaced whole: a reader sees all or none.
    files.write_text(os.path.join(run_dir, RESULT_FILE), json.dumps(result, indent=2) + "\n")
    return result


@dataclass
class Run:
    """One run folder as the report sees it."""

    path: Path
    overrides: list[str]
    config: DictConfig | None
    result: dict | None  # result.json, None when the run did not finish
    evaluations: list[dict] = field(default_factory=list)
    error: str | None = None  # the last error the run logged, for a failed run

    @property
    def finished(self) -> bool:
        return self.result is not None

    @property
    def model_dir(self) -> str:
        return self.result["model_dir"] if self.result else str(self.path)

    @property
    def best(self) -> dict:
        if self.result and self.result.get("best"):
            return self.result["best"]
        return best_record(self.path, self.config)


def split_overrides(found: list[Run]) -> tuple[list[str], list[list[str]]]:
    """(the overrides all runs share, each run's other overrides); hydra.* left out."""
    own = [[o for o in run.overrides if not o.startswith("hydra.")] for run in found]
    if len(own) < 2:
        return [], own
    shared = [o for o in own[0] if all(o in others for others in own)]
    return shared, [[o for o in overrides if o not in shared] for overrides in own]


def is_run_folder(path: Path) -> bool:
    return (Path(path) / ".hydra").is_dir()


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders among `paths`: each is a run folder or a folder of them (a multirun)."""
    found = []
    for path in map(Path, paths):
        if is_run_folder(path):
            found.append(path)
            continue
        jobs = (
            [p for p in path.iterdir() if p.is_dir() and is_run_folder(p)] if path.is_dir() else []
        )
        found.extend(
            sorted(
                jobs,
                key=lambda p: (
                    not p.name.isdigit(),
                    int(p.name) if p.name.isdigit() else 0,
                    p.name,
                ),
            )
        )
    return found


def read_run(path: Path) -> Run:
    from omegaconf import OmegaConf

    path = Path(path)
    hydra_dir = path / ".hydra"
    overrides_file, config_file = hydra_dir / "overrides.yaml", hydra_dir / "config.yaml"
    overrides = [str(o) for o in OmegaConf.load(overrides_file)] if overrides_file.is_file() else []
    config = OmegaConf.load(config_file) if config_file.is_file() else None
    result_file = path / RESULT_FILE
    result = json.loads(result_file.read_text()) if result_file.is_file() else None
    model_dir = result["model_dir"] if result else str(path)
    run = Run(path, overrides, config, result, read_evaluations(model_dir))
    if result is None:
        run.error = last_logged_error(path)
    return run


def last_logged_error(path: Path) -> str | None:
    """The last ERROR line of the run's Hydra log file(s), if any."""
    lines = []
    for log_file in sorted(Path(path).glob("*.log")):
        lines += [
            line for line in log_file.read_text(errors="replace").splitlines() if "[ERROR]" in line
        ]
    return lines[-1].split("[ERROR] - ", 1)[-1] if lines else None
