"""Every model option on both tasks: digits classification and CSV regression, in-process."""

import numpy as np
import pytest
import tensorflow as tf
from helpers import compose_train, diabetes_csv, jsonl

from {{ cookiecutter.package_name }}.data import load_dataset
from {{ cookiecutter.package_name }}.model import build_estimator
from {{ cookiecutter.package_name }}.train import train

MODELS = ["dnn", "linear", "custom"]
# The metric each task is monitored by must exist for every model option.
MONITORED = {
    "classification": {"accuracy", "average_loss"},
    "regression": {"average_loss"},
}


def overrides_for(task, folder):
    return diabetes_csv(folder) if task == "regression" else []


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize("model", MODELS)
def test_model_reports_the_tasks_metrics_and_learns(tmp_path, model, task):
    cfg = compose_train(
        f"model={model}",
        *overrides_for(task, tmp_path),
        "trainer.max_steps=200",
        "evaluator.every_n_iter=100",
        "trainer.export=none",
    )
    train(cfg, run_dir=tmp_path / "run")
    records = jsonl(tmp_path / "run" / "evaluations.jsonl")
    assert [r["step"] for r in records] == [0, 100, 200]
    for record in records:
        assert MONITORED[task] <= set(record), record
    first, last = records[0], records[-1]
    assert last["average_loss"] < first["average_loss"], records
    if task == "classification":
        assert last["accuracy"] > first["accuracy"], records


EXPECTED_CLASS = {
    ("dnn", "classification"): tf.estimator.DNNClassifier,
    ("dnn", "regression"): tf.estimator.DNNRegressor,
    ("linear", "classification"): tf.estimator.LinearClassifier,
    ("linear", "regression"): tf.estimator.LinearRegressor,
}


@pytest.mark.parametrize("model, task", sorted(EXPECTED_CLASS))
def test_canned_options_build_the_canned_estimator_for_the_task(tmp_path, model, task):
    cfg = compose_train(f"model={model}", *overrides_for(task, tmp_path))
    data = load_dataset(cfg.data)
    estimator = build_estimator(cfg.model, cfg.trainer, data, str(tmp_path / "run"))
    assert type(estimator) is EXPECTED_CLASS[model, task]


def test_regression_csv_has_float_targets_and_no_classes(tmp_path):
    data = load_dataset(compose_train(*diabetes_csv(tmp_path)).data)
    assert data.task == "regression" and data.n_classes == 0
    assert data.train_y.dtype == np.float32 and len(np.unique(data.train_y)) > 20


def test_digits_is_a_classification_with_raw_pixel_values(tmp_path):
    data = load_dataset(compose_train().data)
    assert data.task == "classification" and data.n_classes == 10
    # Raw as in the data (0..16): the models scale them in their graph.
    assert data.train_x.max() == 16 and data.feature_scale == 16
