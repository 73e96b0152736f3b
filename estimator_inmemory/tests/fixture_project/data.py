"""The fixture project's datasets: scikit-learn's bundled digits, and CSV files."""

import numpy as np

from estimator_inmemory import ConfigError, Dataset, Registry, load_csv

DATASETS = Registry("data")


@DATASETS.register("digits")
def digits(data) -> Dataset:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0 < data.eval_fraction < 1:
        raise ConfigError(f"data.eval_fraction must be between 0 and 1, got {data.eval_fraction}")
    x, y = load_digits(return_X_y=True)
    train_x, eval_x, train_y, eval_y = train_test_split(
        x.astype(np.float32), y.astype(np.int32), test_size=data.eval_fraction,
        random_state=0, stratify=y,
    )  # fmt: skip
    return Dataset(train_x, train_y, eval_x, eval_y, n_classes=10, feature_scale=16.0)


@DATASETS.register("csv")
def csv(data) -> Dataset:
    return load_csv(data.train_path, data.eval_path, data.label_column, data.task)
