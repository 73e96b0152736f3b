"""The datasets, and the Estimator input functions that feed them. Yours to edit.

Add a data source in two places:
1. here, a function decorated with `@dataset("name")` that takes the `data` config and
   returns a `Dataset`;
2. `conf/data/<name>.yaml`, with `name: <name>` and the keys your function reads.
Then train with `data=<name>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf
from omegaconf import DictConfig

from .errors import ConfigError, DataError

FEATURE_KEY = "x"  # every model reads one dense feature vector under this key


@dataclass(frozen=True)
class Dataset:
    train_x: np.ndarray  # float32, (n, n_features)
    train_y: np.ndarray  # int32 class ids (classification) or float32 targets (regression)
    eval_x: np.ndarray
    eval_y: np.ndarray
    n_classes: int  # 0 for regression

    @property
    def n_features(self) -> int:
        return self.train_x.shape[1]


DatasetLoader = Callable[[DictConfig], Dataset]
DATASETS: dict[str, DatasetLoader] = {}


def dataset(name: str) -> Callable[[DatasetLoader], DatasetLoader]:
    """Register a loader under `data.name`."""

    def register(loader: DatasetLoader) -> DatasetLoader:
        DATASETS[name] = loader
        return loader

    return register


def load_dataset(cfg: DictConfig) -> Dataset:
    if cfg.name not in DATASETS:
        raise ConfigError(
            f"data.name={cfg.name!r} has no loader: register one with @dataset({cfg.name!r}) "
            f"in data.py (registered: {', '.join(sorted(DATASETS))})"
        )
    return DATASETS[cfg.name](cfg)


@dataset("digits")
def digits(cfg: DictConfig) -> Dataset:
    """scikit-learn's bundled 8x8 digits, split by a fixed seed."""
    return load_digits(cfg.eval_fraction, cfg.split_seed)


def load_digits(eval_fraction: float, split_seed: int) -> Dataset:
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    x, y = sklearn_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)  # pixel intensities are 0..16
    train_x, eval_x, train_y, eval_y = train_test_split(
        x, y.astype(np.int32), test_size=eval_fraction, random_state=split_seed, stratify=y
    )
    return Dataset(train_x, train_y, eval_x, eval_y, n_classes=10)


@dataset("csv")
def csv(cfg: DictConfig) -> Dataset:
    """Two CSV files with a header row: every column but the label is a numeric feature."""
    return load_csv(Path(cfg.train_path), Path(cfg.eval_path), cfg.label_column)


def load_csv(train_path: Path, eval_path: Path, label_column: str) -> Dataset:
    train_x, train_y = _read_csv(train_path, label_column)
    eval_x, eval_y = _read_csv(eval_path, label_column)
    if train_x.shape[1] != eval_x.shape[1]:
        raise DataError(
            f"{train_path} has {train_x.shape[1]} feature columns but {eval_path} has "
            f"{eval_x.shape[1]}: both files need the same columns"
        )
    return Dataset(
        train_x, train_y, eval_x, eval_y, n_classes=int(max(train_y.max(), eval_y.max())) + 1
    )


def _read_csv(path: Path, label_column: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataError(f"data file {path} does not exist (data.train_path / data.eval_path)")
    table = np.atleast_1d(
        np.genfromtxt(path, delimiter=",", names=True, dtype=np.float64, encoding="utf-8")
    )
    columns = list(table.dtype.names)
    if label_column not in columns:
        raise DataError(
            f"{path} has no column {label_column!r} (data.label_column); it has {columns}"
        )
    features = [name for name in columns if name != label_column]
    x = np.stack([table[name] for name in features], axis=1).astype(np.float32)
    y = table[label_column]
    if np.isnan(x).any() or np.isnan(y).any():
        raise DataError(f"{path} has empty or non-numeric cells")
    if (y < 0).any() or (y != np.round(y)).any():
        raise DataError(f"{path}: column {label_column!r} must hold integers 0..n_classes-1")
    return x, y.astype(np.int32)


def train_input_fn(data: Dataset, batch_size: int, seed: int, shards: int = 1, shard: int = 0):
    """Endless shuffled batches of the training data, or of its `shard`-th of `shards` parts
    (on a cluster every training task reads its own part: see cluster.ClusterTask.shard)."""

    def input_fn():
        ds = tf.data.Dataset.from_tensor_slices(({FEATURE_KEY: data.train_x}, data.train_y))
        ds = ds.shard(shards, shard)  # before shuffling, so the parts do not overlap
        return ds.shuffle(len(data.train_y), seed=seed).repeat().batch(batch_size)

    return input_fn


def eval_input_fn(data: Dataset, batch_size: int):
    def input_fn():
        ds = tf.data.Dataset.from_tensor_slices(({FEATURE_KEY: data.eval_x}, data.eval_y))
        return ds.batch(batch_size)

    return input_fn
