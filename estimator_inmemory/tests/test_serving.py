"""The exported SavedModel takes raw features, scales them as training did, and has the same
signatures for every model (canned or a model_fn) on both tasks.

(A project's README example of serving is the generated project's to test.)"""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from estimator_inmemory import config, eval_input_fn, export_saved_model, training
from fixture_project.train import project
from helpers import estimator_for, train_steps

OUTPUTS = {
    "classification": {"class_ids", "probabilities", "logits"},
    "regression": {"predictions"},
}


@pytest.fixture(scope="module")
def exported(trained):
    """conftest's run of one model on one task, its data, Estimator and SavedModel."""
    _, task, cfg, run_dir, results = trained
    checked = config.settings(cfg)
    data = training.load_dataset(checked.data, project.datasets)
    estimator = training.build_estimator(
        checked.model, checked.trainer, data, str(run_dir), project.models
    )
    (export_dir,) = (run_dir / "export" / "last").iterdir()  # trainer.export=last
    return task, data, estimator, results["metrics"], export_dir


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
    loaded = tf.saved_model.load(str(export_dir))
    served = loaded.signatures["serving_default"](x=tf.constant(data.eval_x))  # raw features
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
    # Both signatures are one: `predict` answers as `serving_default` does.
    also = loaded.signatures["predict"](x=tf.constant(data.eval_x))
    for key, value in served.items():
        np.testing.assert_array_equal(also[key].numpy(), value.numpy())


def test_export_saved_model_returns_the_folder_of_the_checkpoint_it_exports(tmp_path, data):
    estimator = estimator_for(tmp_path / "run", data, model="linear", save_checkpoints_steps=1)
    train_steps(estimator, data, 2)
    first = str(tmp_path / "run" / "model.ckpt-1")
    x = tf.constant(data.eval_x[:20])

    def served_by(folder):
        return tf.saved_model.load(folder).signatures["serving_default"](x=x)["logits"].numpy()

    latest = export_saved_model(estimator, data, str(tmp_path / "export"))
    earlier = export_saved_model(estimator, data, str(tmp_path / "export"), checkpoint_path=first)
    for path in (latest, earlier):
        assert isinstance(path, str)
        assert Path(path).parent == tmp_path / "export"
        assert (Path(path) / "saved_model.pb").is_file()
    assert latest != earlier
    # Each holds the weights of its own checkpoint.
    expected = {
        latest: list(estimator.predict(eval_input_fn_of(data, 20))),
        earlier: list(estimator.predict(eval_input_fn_of(data, 20), checkpoint_path=first)),
    }
    for path, predictions in expected.items():
        np.testing.assert_allclose(
            served_by(path), [p["logits"] for p in predictions], rtol=1e-5, atol=1e-6
        )
    assert not np.allclose(served_by(latest), served_by(earlier))


def eval_input_fn_of(data, n):
    """The first `n` eval examples, in one batch."""

    def input_fn():
        return tf.data.Dataset.from_tensor_slices({"x": data.eval_x[:n]}).batch(n)

    return input_fn
