"""Estimator's checkpoint names: `model.ckpt-<global step>`, read in one place."""

from __future__ import annotations

import re

from . import files

PREFIX = "model.ckpt"
_NAME = re.compile(r"model\.ckpt-(\d+)")


def name(step: int) -> str:
    """The checkpoint name Estimator's Saver gives the weights of `step`."""
    return f"{PREFIX}-{step}"


def step_of(path: str) -> int | None:
    """The global step in a checkpoint path or file name (`.../model.ckpt-400.index`: 400)."""
    match = _NAME.search(files.basename(path))
    return int(match.group(1)) if match else None


def prefix_of(path: str) -> str | None:
    """`model.ckpt-<step>` of a checkpoint file name (its data, index or meta file)."""
    match = _NAME.match(files.basename(path))
    return match.group(0) if match else None


def steps(folder: str) -> list[int]:
    """The steps of the checkpoints in `folder` (those with an index file), ascending."""
    found = (step_of(path) for path in files.glob(folder, f"{PREFIX}-*.index"))
    return sorted(step for step in found if step is not None)


def has_checkpoint(folder: str) -> bool:
    """Whether `folder` holds Estimator's `checkpoint` state file."""
    return files.isfile(files.join(folder, "checkpoint"))
