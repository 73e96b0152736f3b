"""Every model of the fixture project on both tasks (digits classification, CSV regression),
in-process (conftest's `trained` runs): each reports its task's metrics and learns;
`build_estimator` builds what the config names, with the trainer's RunConfig."""

import numpy as np
import pytest
import tensorflow as tf

from estimator_inmemory import config, training
from fixture_project.model import mlp_model_fn
from fixture_project.train import project
from helpers import compose_train, diabetes_csv, jsonl

# The metric each task is monitored by must exist for every model option.
MONITORED = {
    "classification": {"accuracy", "average_loss"},
    "regression": {"average_loss"},
}


def overrides_for(task, folder):
    return diabetes_csv(folder) if task == "regression" else []


def estimator_of(cfg, model_dir):
    checked = config.settings(cfg)
    data = training.load_dataset(checked.data, project.datasets)
    return training.build_estimator(
        checked.model, checked.trainer, data, str(model_dir), project.models
    )


def test_model_reports_the_tasks_metrics_and_learns(trained):
    _, task, _, run_dir, results = trained
    records = jsonl(run_dir / "evaluations.jsonl")
    assert [r["step"] for r in records] == [0, 100, 200]
    for record in records:
        assert MONITORED[task] <= set(record), record
    first, last = records[0], records[-1]
    assert last["average_loss"] < first["average_loss"], records
    if task == "classification":
        assert last["accuracy"] > first["accuracy"], records
    # Each task is monitored by its own metric, whatever the model.
    expected = ("accuracy", "max") if task == "classification" else ("average_loss", "min")
    assert (results["monitor"], results["mode"]) == expected


EXPECTED_CLASS = {
    ("dnn", "classification"): tf.estimator.DNNClassifier,
    ("dnn", "regression"): tf.estimator.DNNRegressor,
    ("linear", "classification"): tf.estimator.LinearClassifier,
    ("linear", "regression"): tf.estimator.LinearRegressor,
    ("mlp", "classification"): tf.estimator.Estimator,
    ("mlp", "regression"): tf.estimator.Estimator,
}


@pytest.mark.parametrize("model, task", sorted(EXPECTED_CLASS))
def test_each_option_builds_its_estimator_for_the_task(tmp_path, model, task):
    cfg = compose_train(f"model={model}", *overrides_for(task, tmp_path))
    estimator = estimator_of(cfg, tmp_path / "run")
    assert type(estimator) is EXPECTED_CLASS[model, task]
    if model == "mlp":
        assert estimator.params["task"] == task
        assert estimator.params["hidden_units"] == [32]
        assert estimator._model_fn is mlp_model_fn


def test_the_estimator_runs_with_the_trainers_run_config(tmp_path):
    cfg = compose_train(
        "trainer.seed=7",
        "trainer.save_checkpoints_steps=40",
        "trainer.keep_checkpoint_max=2",
        "trainer.log_step_count_steps=20",
    )
    run_config = estimator_of(cfg, tmp_path / "run").config
    assert run_config.model_dir == str(tmp_path / "run")
    assert run_config.tf_random_seed == 7
    assert run_config.save_checkpoints_steps == 40
    assert run_config.keep_checkpoint_max == 2
    assert run_config.log_step_count_steps == 20


def test_build_estimator_passes_run_config_overrides(tmp_path, data):
    checked = config.settings(compose_train())
    estimator = training.build_estimator(
        checked.model, checked.trainer, data, str(tmp_path), project.models, keep_checkpoint_max=0
    )
    assert estimator.config.keep_checkpoint_max == 0
    assert estimator.config.tf_random_seed == checked.trainer.seed


def test_regression_csv_has_float_targets_and_no_classes(tmp_path):
    data = training.load_dataset(compose_train(*diabetes_csv(tmp_path)).data, project.datasets)
    assert data.task == "regression" and data.n_classes == 0
    assert data.train_y.dtype == np.float32 and len(np.unique(data.train_y)) > 20


def test_digits_is_a_classification_with_raw_pixel_values(data):
    assert data.task == "classification" and data.n_classes == 10
    # Raw as in the data (0..16): the models scale them in their graph.
    assert data.train_x.max() == 16 and data.feature_scale == 16
