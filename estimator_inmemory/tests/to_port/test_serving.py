"""The exported SavedModel takes raw features, scales them as training did, and has the same
signatures for every model option."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import compose_train, diabetes_csv

from {{ cookiecutter.package_name }}.data import eval_input_fn, load_dataset
from {{ cookiecutter.package_name }}.model import build_estimator
from {{ cookiecutter.package_name }}.train import train

PROJECT = Path(__file__).resolve().parents[1]
OUTPUTS = {
    "classification": {"class_ids", "probabilities", "logits"},
    "regression": {"predictions"},
}
CASES = [
    (model, task)
    for task in ("classification", "regression")
    for model in ("dnn", "linear", "custom")
]


@pytest.fixture(scope="module", params=CASES, ids=[f"{m}-{t}" for m, t in CASES])
def exported(request, tmp_path_factory):
    """A short run of one model on one task, with its SavedModel."""
    model, task = request.param
    folder = tmp_path_factory.mktemp(f"{model}-{task}")
    cfg = compose_train(
        f"model={model}",
        *(diabetes_csv(folder) if task == "regression" else []),
        "trainer.max_steps=100",
        "evaluator.every_n_iter=100",
        "trainer.export=last",  # the weights estimator.predict() reads: the latest checkpoint
    )
    metrics = train(cfg, run_dir=folder / "run")["metrics"]
    data = load_dataset(cfg.data)
    estimator = build_estimator(cfg.model, cfg.trainer, data, str(folder / "run"))
    (export_dir,) = (folder / "run" / "export" / "last").iterdir()
    return task, data, estimator, metrics, export_dir


def test_signatures_are_the_same_for_every_model(exported):
    task, data, _, _, export_dir = exported
    signatures = tf.saved_model.load(str(export_dir)).signatures
    assert set(signatures) == {"serving_default", "predict"}
    for signature in signatures.values():
        _, inputs = signature.structured_input_signature
        assert {name: spec.shape.as_list() for name, spec in inputs.items()} == {
            "x": [None, data.n_features]
        }
        assert set(signature.structured_outputs) == OUTPUTS[task]


def test_saved_model_on_raw_eval_features_predicts_as_the_estimator(exported):
    task, data, estimator, metrics, export_dir = exported
    predict = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    served = predict(x=tf.constant(data.eval_x))  # raw features, as in the data
    expected = list(estimator.predict(eval_input_fn(data, 256)))
    if task == "classification":
        class_ids = served["class_ids"].numpy()[:, 0]
        np.testing.assert_array_equal(class_ids, [p["class_ids"][0] for p in expected])
        assert (class_ids == data.eval_y).mean() == pytest.approx(metrics["accuracy"], abs=1e-6)
    else:
        predictions = served["predictions"].numpy()[:, 0]
        np.testing.assert_allclose(predictions, [p["predictions"][0] for p in expected], rtol=1e-5)
        # average_loss is the mean squared error per example, for every model.
        squared_error = ((predictions - data.eval_y) ** 2).mean()
        assert squared_error == pytest.approx(metrics["average_loss"], rel=1e-4)


def readme_serving_example() -> str:
    readme = (PROJECT / "README.md").read_text()
    section = readme.split("## Serve", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readmes_serving_example_runs_on_a_fresh_process(tmp_path):
    # A run where the README's example looks for it: ./outputs/<date>/<time>/.
    train(
        compose_train("trainer.max_steps=100", "evaluator.every_n_iter=100"),
        run_dir=tmp_path / "outputs" / "2024-01-01" / "12-00-00",
    )
    result = subprocess.run(
        [sys.executable, "-c", readme_serving_example()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    accuracy = float(re.search(r"accuracy: ([0-9.]+)", result.stdout).group(1))
    assert accuracy > 0.5, result.stdout  # raw pixels in, scaled inside: a trained model
