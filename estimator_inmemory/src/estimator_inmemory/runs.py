"""A run's folder: a fresh run's own, or an earlier run's when `model_dir=` resumes it.

A resume is the same run continued: it reads the run's stored config for everything that
shapes the model (the `model` and `data` groups), with this command's overrides of those
groups on top; it appends to the run's own `evaluations.jsonl` and `train.log`; and it
never re-evaluates a step the run already evaluated. It continues one history: the
evaluations a killed run made past the checkpoint it resumes from are moved aside to
`evaluations.superseded.jsonl` (`supersede_evaluations`). No TensorFlow here for a local
model_dir: this runs before TensorFlow is imported.

Run folders are claimed atomically (`claim_run_dir`, which Hydra's `hydra.run.dir` and
`hydra.sweep.dir` call through the `unique_dir` resolver, and the cluster launcher calls
too), so two runs started in the same second never share one.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import datetime

from omegaconf import DictConfig, OmegaConf

from . import files
from .checkpoints import has_checkpoint
from .errors import ConfigError
from .records import JSONL, SUPERSEDED

log = logging.getLogger(__name__)
# The config groups that decide which variables the model has.
MODEL_SHAPING_GROUPS = ("model", "data")
LOG = "train.log"


# The config Hydra records in a run folder (`.hydra/config.yaml`).
STORED_CONFIG = os.path.join(".hydra", "config.yaml")
# The copy a run keeps in a model_dir that is not its Hydra folder (`model_dir=` elsewhere:
# a cluster's shared folder, a bucket), for resumes: Hydra writes only to its local folder.
STORED_COPY = "config.yaml"


@dataclass(frozen=True)
class Run:
    model_dir: str  # checkpoints, eval summaries, best/, export/, evaluations.jsonl
    record_dir: str  # this invocation's Hydra folder (local): its config and log
    resuming: bool  # model_dir already holds a checkpoint

    @property
    def jsonl(self) -> str:
        return files.join(self.model_dir, JSONL)


def claim_run_dir(root: str, pattern: str = "%Y-%m-%d/%H-%M-%S") -> str:
    """A folder no other run has: `root/<now as pattern>`, else with -2, -3, ..., created atomically.

    Hydra names run folders by the second, so two runs started in the same second (or in
    two containers sharing a volume) would share one folder, and so one model_dir. mkdir
    either creates the folder or fails because it exists, so exactly one run gets each.
    """
    path = os.path.join(root, datetime.now().strftime(pattern))
    parent = os.path.dirname(path) or "."
    _remember_created_parents(parent)
    for n in range(1, 10_000):
        candidate = path if n == 1 else f"{path}-{n}"
        try:
            os.makedirs(parent, exist_ok=True)
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            continue
        except FileNotFoundError:  # a refused run removed the emptied parent just now
            continue
    raise ConfigError(f"no free run folder next to {path}")


# The parent folders claim_run_dir created in this process (outputs/, outputs/<date>/): a
# run refused before training removes them again when it leaves them empty.
_CREATED_PARENTS: list[str] = []


def _remember_created_parents(parent: str) -> None:
    missing = []
    folder = os.path.abspath(parent)
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        missing.append(folder)
        folder = os.path.dirname(folder)
    _CREATED_PARENTS.extend(missing)  # innermost first


def record_subdir() -> str:
    """Where Hydra records this run's config: `.hydra`, unless the folder already has one.

    `hydra.run.dir=<an earlier run>` must not overwrite that run's record (its resume reads
    it): this attempt's record goes beside it instead.
    """
    from hydra.core.hydra_config import HydraConfig

    output_dir = HydraConfig.get().runtime.output_dir
    if os.path.isfile(os.path.join(output_dir, STORED_CONFIG)):
        return f".hydra/attempt-{datetime.now():%Y-%m-%d_%H-%M-%S_%f}"
    return ".hydra"


# Used by a project's conf/hydra/default.yaml. Cached: Hydra resolves the run folder more
# than once (and copies the cache into each sweep job), and each run must claim exactly one.
if not OmegaConf.has_resolver("unique_dir"):
    OmegaConf.register_new_resolver("unique_dir", claim_run_dir, use_cache=True)
if not OmegaConf.has_resolver("record_subdir"):
    OmegaConf.register_new_resolver("record_subdir", record_subdir, use_cache=True)


def prepare(
    cfg: DictConfig, record_dir: str, overrides: list[str] | None
) -> tuple[DictConfig, Run]:
    """The run this invocation continues or starts, and the config it trains with.

    `overrides` are this command's overrides (None when `train(cfg)` is called directly:
    then `cfg` is taken as it is, with no stored config merged in).
    """
    record_dir = str(record_dir)
    if cfg.model_dir is None:
        if has_checkpoint(record_dir) or files.exists(files.join(record_dir, JSONL)):
            raise ConfigError(
                f"the run folder {record_dir} already holds a run: resume it with "
                f"model_dir={record_dir}, or start a new run in another folder"
            )
        return cfg, Run(record_dir, record_dir, resuming=False)
    model_dir = str(cfg.model_dir)
    if not has_checkpoint(model_dir):
        return cfg, Run(model_dir, record_dir, resuming=False)
    stored = files.join(model_dir, STORED_CONFIG)
    if not files.isfile(stored):
        stored = files.join(model_dir, STORED_COPY)
    if overrides is not None and files.isfile(stored):
        cfg = with_stored_config(cfg, OmegaConf.create(files.read_text(stored)), overrides)
        log.info(
            "resuming %s: model and data as stored in %s, with this command's overrides",
            model_dir,
            stored,
        )
    return cfg, Run(model_dir, record_dir, resuming=True)


def store_config(cfg: DictConfig, run: Run) -> None:
    """Keep the config of a new run in its model_dir (`config.yaml`) when Hydra's own record
    is elsewhere, so that a resume (`model_dir=...`, maybe from another machine) reads it."""
    if run.resuming or run.model_dir == run.record_dir:
        return
    files.makedirs(run.model_dir)
    files.write_text(files.join(run.model_dir, STORED_COPY), OmegaConf.to_yaml(cfg))


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


def evaluated_steps(model_dir: str, label: str) -> set[int]:
    """The steps `label` (eval, eval_<name>) already evaluated in this run."""
    steps = set()
    for line in files.read_lines(files.join(model_dir, JSONL)):
        with contextlib.suppress(ValueError, KeyError):
            record = json.loads(line)
            if record["eval"] == label:
                steps.add(int(record["step"]))
    return steps


def supersede_evaluations(model_dir: str, step: int) -> list[dict]:
    """Move the records of evaluations past `step` out of `evaluations.jsonl`; return them.

    A run resumed from its checkpoint of `step` trains the steps after it again, with other
    weights: what was evaluated past it (before a kill) is another history. Those lines go,
    marked `"resumed_from": step`, to `evaluations.superseded.jsonl` beside it, and
    `evaluations.jsonl` keeps the surviving trajectory (replaced whole). A line a kill cut
    short goes there too, as `{"unreadable": <its text>}`. Nothing is deleted.
    """
    path = files.join(model_dir, JSONL)
    kept, superseded = [], []
    for line in files.read_lines(path):
        try:
            record = json.loads(line)
            past = int(record["step"]) > step
        except (ValueError, KeyError, TypeError):
            record, past = {"unreadable": line}, True
        if past:
            superseded.append({**record, "resumed_from": step})
        else:
            kept.append(line)
    if not superseded:
        return []
    aside = files.join(model_dir, SUPERSEDED)
    # Appended first, then evaluations.jsonl replaced: a kill in between moves them again,
    # and lines already there are not repeated.
    there = set(files.read_lines(aside))
    for record in superseded:
        line = json.dumps(record)
        if line not in there:
            files.append_line(aside, line)
    files.write_text(path, "".join(line + "\n" for line in kept))
    return superseded


def discard_failed_attempt(record_dir: str, record_subdir: str) -> bool:
    """Remove what a run that failed before training left: its config record and log.

    Only when that is all the folder holds (no checkpoint, no evaluations); then also the
    parent folders `claim_run_dir` created for it, where they are left empty. Returns
    whether anything was removed.
    """
    if record_subdir != ".hydra":  # an attempt beside an earlier run's record
        shutil.rmtree(os.path.join(record_dir, record_subdir), ignore_errors=True)
        return True
    others = [n for n in os.listdir(record_dir) if n != ".hydra" and not n.endswith(".log")]
    if others:
        return False
    shutil.rmtree(record_dir, ignore_errors=True)
    # The folders claimed for it (outputs/<date>/, outputs/), where nothing else is in them.
    for folder in _CREATED_PARENTS:
        with contextlib.suppress(OSError):  # not empty, or gone: another run's
            os.rmdir(folder)
    return True


@contextlib.contextmanager
def run_log(run: Run):
    """Also log to the run's own `train.log` in model_dir, when Hydra logs elsewhere.

    A local model_dir gets the lines as they come, when a run is resumed there. A bucket
    cannot be appended to line by line: there this invocation's lines are kept in memory
    and appended when it ends (fresh runs too: the bucket is the run's home).
    """
    if run.model_dir == run.record_dir or not (run.resuming or files.is_remote(run.model_dir)):
        yield
        return
    root = logging.getLogger()
    existing = [h for h in root.handlers if isinstance(h, logging.FileHandler)]
    formatter = (
        existing[0].formatter
        if existing
        else logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    )
    remote = files.is_remote(run.model_dir)
    buffer = io.StringIO()
    handler = (
        logging.StreamHandler(buffer)
        if remote
        else logging.FileHandler(os.path.join(run.model_dir, LOG))
    )
    handler.setFormatter(formatter)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        if remote and buffer.getvalue():
            files.append_text(files.join(run.model_dir, LOG), buffer.getvalue())
