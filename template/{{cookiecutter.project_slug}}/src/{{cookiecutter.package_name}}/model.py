"""The models: TensorFlow's canned DNNClassifier, or your own model_fn. Yours to edit.

Add a model in two places:
1. here, a function decorated with `@model("name")` that takes the `model` and
   `trainer` configs, the `Dataset` and the `RunConfig`, and returns an Estimator;
2. `conf/model/<name>.yaml`, with `name: <name>` and the keys your function reads.
Then train with `model=<name>`.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf
from omegaconf import DictConfig

from .data import FEATURE_KEY, Dataset
from .errors import ConfigError

ModelBuilder = Callable[
    [DictConfig, DictConfig, Dataset, tf.estimator.RunConfig], tf.estimator.Estimator
]
MODELS: dict[str, ModelBuilder] = {}


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
    return [tf.feature_column.numeric_column(FEATURE_KEY, shape=(data.n_features,))]


@model("dnn")
def dnn(
    model_cfg: DictConfig, trainer: DictConfig, data: Dataset, config
) -> tf.estimator.Estimator:
    """TensorFlow's canned DNNClassifier."""
    return tf.estimator.DNNClassifier(
        hidden_units=list(model_cfg.hidden_units),
        feature_columns=feature_columns(data),
        n_classes=data.n_classes,
        # An optimizer factory, not a name: on TF 2.12/2.13 the canned estimators
        # crash resolving optimizer names (inspect.getargspec is gone in Python 3.11).
        optimizer=lambda: tf.keras.optimizers.legacy.Adagrad(trainer.learning_rate),
        dropout=model_cfg.dropout,
        config=config,
    )


@model("custom")
def custom(
    model_cfg: DictConfig, trainer: DictConfig, data: Dataset, config
) -> tf.estimator.Estimator:
    """The hand-written custom_model_fn below."""
    params = {
        "hidden_units": list(model_cfg.hidden_units),
        "dropout": model_cfg.dropout,
        "n_classes": data.n_classes,
        "learning_rate": trainer.learning_rate,
    }
    return tf.estimator.Estimator(model_fn=custom_model_fn, params=params, config=config)


def custom_model_fn(features, labels, mode, params):
    """A multi-layer perceptron written out by hand: replace it with your own model."""
    training = mode == tf.estimator.ModeKeys.TRAIN
    net = features[FEATURE_KEY]
    for i, units in enumerate(params["hidden_units"]):
        net = tf.keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(net)
        if params["dropout"]:
            net = tf.keras.layers.Dropout(params["dropout"])(net, training=training)
    logits = tf.keras.layers.Dense(params["n_classes"], name="logits")(net)
    predictions = {
        "class_ids": tf.argmax(logits, axis=1),
        "probabilities": tf.nn.softmax(logits),
        "logits": logits,
    }
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)

    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    metrics = {
        "accuracy": tf.compat.v1.metrics.accuracy(labels, predictions["class_ids"]),
        "average_loss": tf.compat.v1.metrics.mean(loss),
    }
    train_op = None
    if training:
        optimizer = tf.compat.v1.train.AdagradOptimizer(params["learning_rate"])
        train_op = optimizer.minimize(loss, global_step=tf.compat.v1.train.get_global_step())
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops=metrics)


def serving_input_fn(n_features: int):
    """What the exported SavedModel takes: a batch of feature vectors under the key `x`."""

    def input_fn():
        x = tf.compat.v1.placeholder(tf.float32, [None, n_features], name=FEATURE_KEY)
        return tf.estimator.export.ServingInputReceiver({FEATURE_KEY: x}, {FEATURE_KEY: x})

    return input_fn
