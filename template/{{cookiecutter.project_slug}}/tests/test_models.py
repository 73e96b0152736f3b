"""Every model of model.py trains on every task a few steps, evaluating in memory, and
exports a SavedModel that serves raw features as the Estimator predicts them.

A model you register with `@MODELS.register("name")` (and `conf/model/<name>.yaml`) is
picked up here by itself.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
from estimator_inmemory import eval_input_fn
from estimator_inmemory.config import settings
from estimator_inmemory.training import build_estimator, load_dataset

from {{ cookiecutter.package_name }}.data import DATASETS
from {{ cookiecutter.package_name }}.model import MODELS
from {{ cookiecutter.package_name }}.train import project, train

TASKS = {"classification": [], "regression": None}  # None: the regression_csv fixture
OUTPUTS = {"classification": "class_ids", "regression": "predictions"}


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_model_trains_evaluates_in_memory_and_exports(tmp_path, model, task, regression_csv):
    data_overrides = regression_csv if task == "regression" else []
    cfg = project.compose(
        f"model={model}",
        *data_overrides,
        "trainer.max_steps=60",
        "evaluator.every_n_iter=30",
        "trainer.export=last",  # the weights estimator.predict() reads: the latest checkpoint
    )
    run = tmp_path / "run"
    results = train(cfg, run)
    records = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 30, 60]
    assert records[-1]["average_loss"] < records[0]["average_loss"], records
    assert results["best"] is not None and results["metrics"]["global_step"] == 60

    s = settings(cfg)
    data = load_dataset(s.data, DATASETS)
    estimator = build_estimator(s.model, s.trainer, data, str(run), MODELS)
    (export_dir,) = (run / "export" / "last").iterdir()
    served = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    output = OUTPUTS[task]
    served_values = served(x=tf.constant(data.eval_x))[output].numpy()
    batches = estimator.predict(eval_input_fn(data, 256), yield_single_examples=False)
    predicted = np.concatenate([batch[output] for batch in batches])
    np.testing.assert_allclose(served_values, predicted, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_loads_raw_features_its_task_can_learn(name, regression_csv):
    overrides = regression_csv if name == "csv" else [f"data={name}"]
    data = load_dataset(project.compose(*overrides).data, DATASETS)
    assert data.train_x.dtype == np.float32 and data.train_x.shape[1] == data.eval_x.shape[1]
    assert len(data.train_y) == len(data.train_x) and len(data.eval_y) == len(data.eval_x)
    if data.task == "classification":
        assert set(np.unique(data.train_y)) == set(range(data.n_classes))
