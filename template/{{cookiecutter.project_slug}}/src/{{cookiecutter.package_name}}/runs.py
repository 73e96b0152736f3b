"""A run's folder: a fresh run's own, or an earlier run's when `model_dir=` resumes it.

Library code (no need to edit). A resume is the same run continued: it reads the run's
stored config for everything that shapes the model (the `model` and `data` groups), with
this command's overrides of those groups on top; it appends to the run's own
`evaluations.jsonl` and `train.log`; and it never re-evaluates a step the run already
evaluated. No TensorFlow here: this runs before TensorFlow is imported.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from .errors import ConfigError

log = logging.getLogger(__name__)
# The config groups that decide which variables the model has.
MODEL_SHAPING_GROUPS = ("model", "data")
JSONL = "evaluations.jsonl"
LOG = "train.log"


@dataclass(frozen=True)
class Run:
    model_dir: Path  # checkpoints, eval summaries, best/, export/, evaluations.jsonl
    record_dir: Path  # this invocation's Hydra folder: its config and log
    resuming: bool  # model_dir already holds a checkpoint


def has_checkpoint(folder: Path) -> bool:
    return (folder / "checkpoint").is_file()


def prepare(
    cfg: DictConfig, record_dir: Path, overrides: list[str] | None
) -> tuple[DictConfig, Run]:
    """The run this invocation continues or starts, and the config it trains with.

    `overrides` are this command's overrides (None when `train(cfg)` is called directly:
    then `cfg` is taken as it is, with no stored config merged in).
    """
    record_dir = Path(record_dir)
    if cfg.model_dir is None:
        if has_checkpoint(record_dir) or (record_dir / JSONL).exists():
            raise ConfigError(
                f"the run folder {record_dir} already holds a run: resume it with "
                f"model_dir={record_dir}, or start a new run in another folder"
            )
        return cfg, Run(record_dir, record_dir, resuming=False)
    model_dir = Path(cfg.model_dir)
    if not has_checkpoint(model_dir):
        return cfg, Run(model_dir, record_dir, resuming=False)
    stored = model_dir / ".hydra" / "config.yaml"
    if overrides is not None and stored.is_file():
        cfg = with_stored_config(cfg, OmegaConf.load(stored), overrides)
        log.info(
            "resuming %s: model and data as stored in %s, with this command's overrides",
            model_dir,
            stored,
        )
    return cfg, Run(model_dir, record_dir, resuming=True)


def with_stored_config(cfg: DictConfig, stored: DictConfig, overrides: list[str]) -> DictConfig:
    """`cfg` with the model-shaping groups taken from `stored`, except what `overrides` set.

    Choosing another option of a group (`model=custom`) takes that group from `cfg` whole;
    setting keys inside it (`model.hidden_units=[16]`) applies them to the stored group.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = [o for o in OverridesParser.create().parse_overrides(overrides) if not o.is_delete()]
    merged = copy.deepcopy(cfg)
    OmegaConf.set_struct(merged, False)
    for group in MODEL_SHAPING_GROUPS:
        if group not in stored:
            continue
        mine = [o for o in parsed if o.key_or_group.split(".")[0] == group]
        if any(o.key_or_group == group for o in mine):
            continue
        merged[group] = copy.deepcopy(stored[group])
        for override in mine:
            OmegaConf.update(merged, override.key_or_group, override.value(), merge=False)
    OmegaConf.set_struct(merged, True)
    return merged


def evaluated_steps(model_dir: Path, label: str) -> set[int]:
    """The steps `label` (eval, eval_<name>) already evaluated in this run."""
    path = Path(model_dir) / JSONL
    if not path.is_file():
        return set()
    steps = set()
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError, KeyError):
            record = json.loads(line)
            if record["eval"] == label:
                steps.add(int(record["step"]))
    return steps


def discard_failed_attempt(record_dir: Path, record_subdir: str) -> bool:
    """Remove what a run that failed before training left: its config record and log.

    Only when that is all the folder holds (no checkpoint, no evaluations). Returns
    whether anything was removed.
    """
    import shutil

    record_dir = Path(record_dir)
    record = record_dir / record_subdir
    if record_subdir != ".hydra":  # an attempt beside an earlier run's record
        shutil.rmtree(record, ignore_errors=True)
        return True
    others = [p for p in record_dir.iterdir() if p.name != ".hydra" and p.suffix != ".log"]
    if others:
        return False
    shutil.rmtree(record_dir, ignore_errors=True)
    return True


@contextlib.contextmanager
def run_log(run: Run):
    """While resuming, also append the log to the resumed run's own train.log."""
    if not run.resuming or run.model_dir == run.record_dir:
        yield
        return
    root = logging.getLogger()
    handler = logging.FileHandler(run.model_dir / LOG)
    existing = [h for h in root.handlers if isinstance(h, logging.FileHandler)]
    handler.setFormatter(
        existing[0].formatter
        if existing
        else logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    )
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
