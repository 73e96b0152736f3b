"""SavedModels that take raw features, whatever the model.

`export_saved_model` exports a checkpoint of any Estimator (canned or a model_fn) with the
same two signatures, `serving_default` and `predict`, both taking `x` (raw feature vectors,
shape (batch, n_features), scaled inside the graph as in training) and returning
`SERVING_OUTPUTS[task]`. Left alone, a canned Estimator exports only `predict` for raw
inputs (its `serving_default` classifies or regresses serialized tf.Examples), and a
model_fn only `serving_default`.
"""

from __future__ import annotations

from .data import FEATURE_KEY, Dataset

# What the exported SavedModel's signatures return, per task, whatever the model.
SERVING_OUTPUTS = {
    "classification": ("class_ids", "probabilities", "logits"),
    "regression": ("predictions",),
}
SIGNATURES = ("serving_default", "predict")


def serving_input_fn(n_features: int):
    """What the exported SavedModel takes: raw feature vectors, shape (batch, n_features), as `x`."""
    import tensorflow as tf

    def input_fn():
        x = tf.compat.v1.placeholder(tf.float32, [None, n_features], name=FEATURE_KEY)
        return tf.estimator.export.ServingInputReceiver({FEATURE_KEY: x}, {FEATURE_KEY: x})

    return input_fn


def export_saved_model(
    estimator, data: Dataset, export_dir_base: str, checkpoint_path: str | None = None
) -> str:
    """Export a checkpoint (default: the latest) as a SavedModel; return its folder."""
    import tensorflow as tf

    outputs = SERVING_OUTPUTS[data.task]

    def model_fn(features, labels, mode, config):
        spec = estimator.model_fn(features, labels, mode, config)
        if mode != tf.estimator.ModeKeys.PREDICT:
            return spec
        served = spec.predictions
        if all(key in served for key in outputs):  # else: your own model's predictions
            served = {key: served[key] for key in outputs}
        output = tf.estimator.export.PredictOutput(served)
        return spec._replace(export_outputs={name: output for name in SIGNATURES})

    exporter = tf.estimator.Estimator(model_fn, estimator.model_dir, estimator.config)
    return exporter.export_saved_model(
        export_dir_base, serving_input_fn(data.n_features), checkpoint_path=checkpoint_path
    ).decode()
