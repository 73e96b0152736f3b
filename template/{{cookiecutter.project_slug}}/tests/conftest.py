"""What the tests share: the CSV data source's files."""

import pytest


@pytest.fixture(scope="session")
def regression_csv(tmp_path_factory) -> list[str]:
    """scikit-learn's bundled diabetes data as train/eval CSV files (even and odd rows);
    the overrides that train on them as a regression."""
    import csv

    from sklearn.datasets import load_diabetes

    folder = tmp_path_factory.mktemp("diabetes")
    bunch = load_diabetes(scaled=False)
    for name, start in (("train", 0), ("eval", 1)):
        with open(folder / f"{name}.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow([*bunch.feature_names, "progression"])
            for i in range(start, len(bunch.target), 2):
                writer.writerow([*bunch.data[i], bunch.target[i]])
    return [
        "data=csv",
        f"data.train_path={folder / 'train.csv'}",
        f"data.eval_path={folder / 'eval.csv'}",
        "data.label_column=progression",
        "data.task=regression",
    ]
