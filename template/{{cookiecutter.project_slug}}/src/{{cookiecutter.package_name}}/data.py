"""The datasets. Yours to edit.

Add a data source in two places:
1. here, a function decorated with `@DATASETS.register("name")` that takes the `data`
   config (your own keys) and returns a `Dataset`: train and eval features (raw, as in
   the data), labels, the task, and how the models should scale the features;
2. `conf/data/<name>.yaml`, with `name: <name>` and the keys your function reads.
Then train with `data=<name>`.
"""

from __future__ import annotations

import numpy as np
from estimator_inmemory import ConfigError, Dataset, Registry, load_csv

DATASETS = Registry("data")


@DATASETS.register("digits")
def digits(data) -> Dataset:
    """scikit-learn's bundled 8x8 digits (nothing is downloaded), split by a fixed seed."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < data.eval_fraction < 1:
        raise ConfigError(f"data.eval_fraction must be between 0 and 1, got {data.eval_fraction}")
    x, y = load_digits(return_X_y=True)
    train_x, eval_x, train_y, eval_y = train_test_split(
        x.astype(np.float32),
        y.astype(np.int32),
        test_size=data.eval_fraction,
        random_state=data.split_seed,
        stratify=y,
    )
    return Dataset(train_x, train_y, eval_x, eval_y, n_classes=10, feature_scale=16.0)  # 0..16


@DATASETS.register("csv")
def csv(data) -> Dataset:
    """Two CSV files with a header row: every column but the label is a numeric feature."""
    return load_csv(data.train_path, data.eval_path, data.label_column, data.task)
