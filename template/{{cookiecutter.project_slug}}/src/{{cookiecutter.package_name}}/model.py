"""The models: TensorFlow's canned DNN and linear Estimators, or your own model_fn. Yours to edit.

Add a model in two places:
1. here, a function decorated with `@model("name")` that takes the `model` and
   `trainer` configs, the `Dataset` and the `RunConfig`, and returns an Estimator;
2. `conf/model/<name>.yaml`, with `name: <name>` and the keys your function reads.
Then train with `model=<name>`.

Every model handles both tasks of a `Dataset` (`data.task`): classification reports
`accuracy` and `average_loss` (mean cross-entropy per example), regression `average_loss`
(mean squared error per example). Every model reads the raw features through
`feature_columns(data)`, which scales them inside the graph (see `data.normalizer`).
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf
from omegaconf import DictConfig

from .data import FEATURE_KEY, Dataset, normalizer
from .errors import ConfigError

ModelBuilder = Callable[
    [DictConfig, DictConfig, Dataset, tf.estimator.RunConfig], tf.estimator.Estimator
]
MODELS: dict[str, ModelBuilder] = {}

# What the exported SavedModel's signatures return, per task, whatever the model.
SERVING_OUTPUTS = {
    "classification": ("class_ids", "probabilities", "logits"),
    "regression": ("predictions",),
}
SIGNATURES = ("serving_default", "predict")


def model(name: str) -> Callable[[ModelBuilder], ModelBuilder]:
    """Register an Estimator builder under `model.name`."""

    def register(builder: ModelBuilder) -> ModelBuilder:
        MODELS[name] = builder
        return builder

    return register


def build_estimator(
    model_cfg: DictConfig, trainer: DictConfig, data: Dataset, model_dir: str, **run_config
) -> tf.estimator.Estimator:
    """The Estimator `model.name` names; `run_config` overrides RunConfig arguments."""
    if model_cfg.name not in MODELS:
        raise ConfigError(
            f"model.name={model_cfg.name!r} has no builder: register one with "
            f"@model({model_cfg.name!r}) in model.py (registered: {', '.join(sorted(MODELS))})"
        )
    arguments = {
        "model_dir": model_dir,
        "tf_random_seed": trainer.seed,
        "save_checkpoints_steps": trainer.save_checkpoints_steps,
        "keep_checkpoint_max": trainer.keep_checkpoint_max,
        "log_step_count_steps": trainer.log_step_count_steps,
    }
    config = tf.estimator.RunConfig(**{**arguments, **run_config})
    return MODELS[model_cfg.name](model_cfg, trainer, data, config)


def feature_columns(data: Dataset) -> list:
    """The one dense input, scaled in the graph, so a SavedModel takes raw features."""
    return [
        tf.feature_column.numeric_column(
            FEATURE_KEY, shape=(data.n_features,), normalizer_fn=normalizer(data)
        )
    ]


def adagrad(trainer: DictConfig) -> Callable[[], tf.keras.optimizers.legacy.Optimizer]:
    # A factory, not a name: on TF 2.12/2.13 the canned estimators crash resolving
    # optimizer names (inspect.getargspec is gone in Python 3.11). A float whatever the
    # config holds: `learning_rate=1` would make the optimizer's variable an int32, and a
    # resume with 0.5 would then not fit the checkpoint.
    return lambda: tf.keras.optimizers.legacy.Adagrad(float(trainer.learning_rate))


@model("dnn")
def dnn(
    model_cfg: DictConfig, trainer: DictConfig, data: Dataset, config
) -> tf.estimator.Estimator:
    """TensorFlow's canned DNNClassifier, or DNNRegressor for data.task=regression."""
    common = {
        "hidden_units": list(model_cfg.hidden_units),
        "feature_columns": feature_columns(data),
        "optimizer": adagrad(trainer),
        "dropout": model_cfg.dropout,
        "config": config,
    }
    if data.task == "regression":
        return tf.estimator.DNNRegressor(**common)
    return tf.estimator.DNNClassifier(n_classes=data.n_classes, **common)


@model("linear")
def linear(
    model_cfg: DictConfig, trainer: DictConfig, data: Dataset, config
) -> tf.estimator.Estimator:
    """TensorFlow's canned LinearClassifier, or LinearRegressor for data.task=regression."""
    common = {
        "feature_columns": feature_columns(data),
        "optimizer": adagrad(trainer),
        "config": config,
    }
    if data.task == "regression":
        return tf.estimator.LinearRegressor(**common)
    return tf.estimator.LinearClassifier(n_classes=data.n_classes, **common)


@model("custom")
def custom(
    model_cfg: DictConfig, trainer: DictConfig, data: Dataset, config
) -> tf.estimator.Estimator:
    """The hand-written custom_model_fn below."""
    params = {
        "hidden_units": list(model_cfg.hidden_units),
        "dropout": model_cfg.dropout,
        "learning_rate": float(trainer.learning_rate),
        "task": data.task,
        "n_classes": data.n_classes,
        "feature_columns": feature_columns(data),
    }
    return tf.estimator.Estimator(model_fn=custom_model_fn, params=params, config=config)


def custom_model_fn(features, labels, mode, params):
    """A multi-layer perceptron written out by hand: replace it with your own model."""
    training = mode == tf.estimator.ModeKeys.TRAIN
    # The canned models' input layer: the same in-graph scaling of the raw features.
    net = tf.compat.v1.feature_column.input_layer(features, params["feature_columns"])
    for i, units in enumerate(params["hidden_units"]):
        net = dense(units, activation="relu", name=f"hidden_{i}")(net)
        if params["dropout"]:
            net = tf.keras.layers.Dropout(params["dropout"])(net, training=training)
    if params["task"] == "regression":
        head = regression_head(dense(1, name="predictions")(net), labels)
    else:
        head = classification_head(dense(params["n_classes"], name="logits")(net), labels)
    predictions, loss, metrics = head
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)
    train_op = None
    if training:
        optimizer = tf.compat.v1.train.AdagradOptimizer(params["learning_rate"])
        train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops=metrics)


def dense(units: int, **kwargs) -> tf.keras.layers.Dense:
    # A TF1 initializer takes its seed from the graph (RunConfig.tf_random_seed), as the
    # canned DNN's do. Keras 2's default GlorotUniform, given no seed, draws one from
    # Python's `random` module, so two runs with one trainer.seed started differently.
    return tf.keras.layers.Dense(
        units, kernel_initializer=tf.compat.v1.glorot_uniform_initializer(), **kwargs
    )


def classification_head(logits, labels):
    """Predictions, loss and metrics named as the canned classifiers name theirs."""
    class_ids = tf.argmax(logits, axis=1)[:, tf.newaxis]  # (batch, 1), as canned
    predictions = {
        "class_ids": class_ids,
        "probabilities": tf.nn.softmax(logits),
        "logits": logits,
    }
    if labels is None:  # PREDICT
        return predictions, None, None
    labels = tf.reshape(labels, [-1])
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    metrics = {
        "accuracy": tf.compat.v1.metrics.accuracy(labels, class_ids[:, 0]),
        "average_loss": tf.compat.v1.metrics.mean(per_example),
    }
    return predictions, tf.reduce_mean(per_example), metrics


def regression_head(prediction, labels):
    """Predictions, mean squared error loss and metrics, as the canned regressors have."""
    predictions = {"predictions": prediction}  # (batch, 1), as canned
    if labels is None:  # PREDICT
        return predictions, None, None
    labels = tf.reshape(tf.cast(labels, prediction.dtype), [-1, 1])
    per_example = tf.math.squared_difference(prediction, labels)
    metrics = {
        "average_loss": tf.compat.v1.metrics.mean(per_example),
        "rmse": tf.compat.v1.metrics.root_mean_squared_error(labels, prediction),
        "label/mean": tf.compat.v1.metrics.mean(labels),
        "prediction/mean": tf.compat.v1.metrics.mean(prediction),
    }
    return predictions, tf.reduce_mean(per_example), metrics


def serving_input_fn(n_features: int):
    """What the exported SavedModel takes: raw feature vectors, shape (batch, n_features), as `x`."""

    def input_fn():
        x = tf.compat.v1.placeholder(tf.float32, [None, n_features], name=FEATURE_KEY)
        return tf.estimator.export.ServingInputReceiver({FEATURE_KEY: x}, {FEATURE_KEY: x})

    return input_fn


def export_saved_model(
    estimator: tf.estimator.Estimator,
    data: Dataset,
    export_dir_base: str,
    checkpoint_path: str | None = None,
):
    """Export a checkpoint (default: the latest) as a SavedModel; return its folder.

    Whatever the model, its signatures are `serving_default` and `predict`, both taking `x`
    (raw features) and returning `SERVING_OUTPUTS[data.task]`. Left alone, a canned
    Estimator exports only `predict` for raw inputs (its `serving_default` classifies or
    regresses serialized tf.Examples), and a model_fn only `serving_default`.
    """
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
    )
