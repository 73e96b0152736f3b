"""Datasets held in memory, and the Estimator input functions that feed them.

A `Dataset` holds the features raw, as they are in the data: one dense float vector per
example under the feature key `x`. Its `feature_shift` and `feature_scale` say how the
models scale them: `feature_columns(data)` does it inside the TensorFlow graph, so
training, evaluation and the exported SavedModel all apply the same scaling, with the same
constants, and the SavedModel takes raw features (`serving.export_saved_model`).

`load_csv` reads two CSV files into a Dataset and names the cause when one does not parse;
`train_input_fn` gives each training task of a cluster its own part of the data.

No TensorFlow at import: a project's dataset loaders run, and fail, before TensorFlow's
start-up.
"""

from __future__ import annotations

import csv as csv_module
import io
from dataclasses import dataclass
from typing import Callable, Union

import numpy as np

from . import files
from .errors import ConfigError, DataError

FEATURE_KEY = "x"  # every model reads one dense feature vector under this key
TASKS = ("classification", "regression")

FloatOrArray = Union[float, np.ndarray]


@dataclass(frozen=True)
class Dataset:
    train_x: np.ndarray  # float32, (n, n_features), raw values as in the data
    train_y: np.ndarray  # int32 class ids (classification) or float32 targets (regression)
    eval_x: np.ndarray
    eval_y: np.ndarray
    n_classes: int  # 0 for regression
    task: str = "classification"  # one of TASKS
    # The models see (x - feature_shift) / feature_scale: a number, or one per feature.
    feature_shift: FloatOrArray = 0.0
    feature_scale: FloatOrArray = 1.0

    def __post_init__(self):
        if self.task not in TASKS:
            raise ConfigError(f"data.task must be one of {', '.join(TASKS)}, got {self.task!r}")

    @property
    def n_features(self) -> int:
        return self.train_x.shape[1]


def normalizer(data: Dataset) -> Callable:
    """The feature scaling every model applies first, as constants in the model's graph."""
    shape = (data.n_features,)
    shift = np.broadcast_to(np.asarray(data.feature_shift, np.float32), shape).copy()
    scale = np.broadcast_to(np.asarray(data.feature_scale, np.float32), shape).copy()

    def normalize(x):
        import tensorflow as tf

        return (x - tf.constant(shift, name="feature_shift")) / tf.constant(
            scale, name="feature_scale"
        )

    return normalize


def feature_columns(data: Dataset) -> list:
    """The one dense input, scaled in the graph, so a SavedModel takes raw features."""
    import tensorflow as tf

    return [
        tf.feature_column.numeric_column(
            FEATURE_KEY, shape=(data.n_features,), normalizer_fn=normalizer(data)
        )
    ]


def load_csv(
    train_path: str, eval_path: str, label_column: str, task: str = "classification"
) -> Dataset:
    """Two CSV files with a header row: every column but the label is a numeric feature,
    standardised with the training file's mean and standard deviation (inside the model)."""
    if task not in TASKS:
        raise ConfigError(f"data.task must be one of {', '.join(TASKS)}, got {task!r}")
    train_names, train_x, train_y = read_csv(train_path, label_column, task)
    eval_names, eval_x, eval_y = read_csv(eval_path, label_column, task)
    if sorted(train_names) != sorted(eval_names):
        only_train = sorted(set(train_names) - set(eval_names))
        only_eval = sorted(set(eval_names) - set(train_names))
        raise DataError(
            f"{train_path} and {eval_path} need the same feature columns: only in the first "
            f"{only_train}, only in the second {only_eval}"
        )
    eval_x = eval_x[:, [eval_names.index(name) for name in train_names]]  # train's order
    std = train_x.std(axis=0)
    n_classes = int(max(train_y.max(), eval_y.max())) + 1 if task == "classification" else 0
    return Dataset(
        train_x,
        train_y,
        eval_x,
        eval_y,
        n_classes=n_classes,
        task=task,
        # Standardised with the training split's statistics; a constant column is only centred.
        feature_shift=train_x.mean(axis=0),
        feature_scale=np.where(std > 0, std, 1.0),
    )


def read_csv(path: str, label_column: str, task: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(feature names, float32 features, labels) of a comma-separated file with a header row.

    Raises a `DataError` that names the file and the likely cause when it does not parse.
    """
    if files.isdir(path):
        raise DataError(
            f"data file {path} is a directory, not a CSV file (data.train_path / "
            "data.eval_path name one file each)"
        )
    if not files.exists(path):
        raise DataError(f"data file {path} does not exist (data.train_path / data.eval_path)")
    try:
        with open(path, "rb") if not files.is_remote(path) else _remote(path) as f:
            text = f.read().decode("utf-8-sig")  # -sig: Excel's byte order mark
        reader = csv_module.reader(io.StringIO(text, newline=""))
        lines = [(reader.line_num, row) for row in reader if row]  # blank lines skipped
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    if not lines:
        raise DataError(f"{path} is empty: it needs a header row and one row per example")
    _, header = lines[0]
    header = [name.strip() for name in header]
    if len(header) == 1:
        raise DataError(f"{path}: {_why_one_column(header[0], label_column)}")
    if all(_is_number(name) for name in header):
        raise DataError(
            f"{path} has no header row: its first line holds numbers, not column names. "
            f"Add a first line naming the columns, the label column {label_column!r} "
            "(data.label_column) among them"
        )
    if label_column not in header:
        raise DataError(
            f"{path} has no column {label_column!r} (data.label_column); it has {header}"
        )
    if len(set(header)) < len(header) or "" in header:
        raise DataError(f"{path}: every column needs its own name (repeated or empty: {header})")
    rows = lines[1:]
    if not rows:
        raise DataError(f"{path} has a header row but no data rows")
    for number, row in rows:
        if len(row) != len(header):
            raise DataError(
                f"{path} line {number} has {len(row)} cells, but the header has {len(header)} "
                "columns: check the delimiter (commas only) and quoting on that line"
            )
    table = _numbers(path, header, rows)
    label_index = header.index(label_column)
    features = [name for name in header if name != label_column]
    x = np.delete(table, label_index, axis=1).astype(np.float32)
    y = table[:, label_index]
    if task == "regression":
        return features, x, y.astype(np.float32)
    bad = np.flatnonzero((y < 0) | (y != np.round(y)))
    if bad.size:
        number, _ = rows[bad[0]]
        raise DataError(
            f"{path} line {number}: column {label_column!r} holds {y[bad[0]]:g}, but "
            "classification needs class ids 0..n_classes-1; for a numeric target train "
            "with data.task=regression"
        )
    return features, x, y.astype(np.int32)


def _why_one_column(first_line: str, label_column: str) -> str:
    for delimiter, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
        if delimiter in first_line:
            return (
                f"the header {first_line!r} reads as one column: the file looks separated by "
                f"{name}, but it must be comma-separated (e.g. pandas: "
                "pd.read_csv(path, sep=...).to_csv(path, index=False))"
            )
    return (
        f"only one column ({first_line!r}): it needs comma-separated feature columns and "
        f"the label column {label_column!r}"
    )


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _remote(path: str):
    import tensorflow as tf

    return tf.io.gfile.GFile(path, "rb")


def _numbers(path: str, header: list[str], rows: list[tuple[int, list[str]]]) -> np.ndarray:
    """The cells as float64, or a DataError naming the first cell that is not a number."""
    try:  # the fast path; only a failure is worth a cell-by-cell look
        table = np.array([row for _, row in rows], dtype=np.float64)
        if np.isfinite(table).all():
            return table
    except ValueError:
        pass
    for number, row in rows:
        for name, cell in zip(header, row):
            if not cell.strip():
                problem = "is empty"
            elif not _is_number(cell):
                problem = f"holds {cell!r}, which is not a number"
            elif not np.isfinite(float(cell)):
                problem = f"holds {cell.strip()!r}, which is not a finite number"
            else:
                continue
            raise DataError(
                f"{path} line {number}: column {name!r} {problem} (every column must be "
                "numeric: encode categories as numbers, fill or drop missing values)"
            )
    return np.array([[float(cell) for cell in row] for _, row in rows], dtype=np.float64)


def train_input_fn(data: Dataset, batch_size: int, seed: int, shards: int = 1, shard: int = 0):
    """Endless shuffled batches of the training data, or of its `shard`-th of `shards` parts
    (on a cluster every training task reads its own part: see cluster.ClusterTask.shard)."""

    def input_fn():
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensor_slices(({FEATURE_KEY: data.train_x}, data.train_y))
        ds = ds.shard(shards, shard)  # before shuffling, so the parts do not overlap
        return ds.shuffle(len(data.train_y), seed=seed).repeat().batch(batch_size)

    return input_fn


def eval_input_fn(data: Dataset, batch_size: int):
    """The eval split in batches, once through."""

    def input_fn():
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensor_slices(({FEATURE_KEY: data.eval_x}, data.eval_y))
        return ds.batch(batch_size)

    return input_fn
