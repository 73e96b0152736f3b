"""The models: TensorFlow's canned DNN and linear Estimators, and a model_fn of your own.

Add a model in two places:
1. here, a function decorated with `@MODELS.register("name")` that takes the `model` config
   (your own keys), the trainer settings (`trainer.learning_rate`, ...), the `Dataset` and
   the `tf.estimator.RunConfig`, and returns an Estimator;
2. `conf/model/<name>.yaml`, with `name: <name>` and the keys your function reads.
Then train with `model=<name>`.

Every model handles both tasks of a `Dataset` (`data.task`): classification reports
`accuracy` and `average_loss` (mean cross-entropy per example), regression `average_loss`
(mean squared error per example). Every model reads the raw features through
`feature_columns(data)`, which scales them inside the graph, so the exported SavedModel
takes raw features.
"""

from __future__ import annotations

import tensorflow as tf
from estimator_inmemory import Registry, feature_columns

MODELS = Registry("model")


def adagrad(trainer):
    # A factory, not a name: on TF 2.12/2.13 the canned estimators crash resolving
    # optimizer names (inspect.getargspec is gone in Python 3.11).
    return lambda: tf.keras.optimizers.legacy.Adagrad(trainer.learning_rate)


@MODELS.register("dnn")
def dnn(model, trainer, data, config) -> tf.estimator.Estimator:
    """TensorFlow's canned DNNClassifier, or DNNRegressor for data.task=regression."""
    common = {
        "hidden_units": list(model.hidden_units),
        "feature_columns": feature_columns(data),
        "optimizer": adagrad(trainer),
        "dropout": model.dropout,
        "config": config,
    }
    if data.task == "regression":
        return tf.estimator.DNNRegressor(**common)
    return tf.estimator.DNNClassifier(n_classes=data.n_classes, **common)


@MODELS.register("linear")
def linear(model, trainer, data, config) -> tf.estimator.Estimator:
    """TensorFlow's canned LinearClassifier, or LinearRegressor for data.task=regression."""
    common = {
        "feature_columns": feature_columns(data),
        "optimizer": adagrad(trainer),
        "config": config,
    }
    if data.task == "regression":
        return tf.estimator.LinearRegressor(**common)
    return tf.estimator.LinearClassifier(n_classes=data.n_classes, **common)


@MODELS.register("custom")
def custom(model, trainer, data, config) -> tf.estimator.Estimator:
    """custom_model_fn below: the canned DNN written out as a model_fn, to start your own from.

    With the same config it gives the same numbers as model=dnn, on purpose: replace the
    layers, the loss or the metrics, and compare.
    """
    params = {
        "hidden_units": list(model.hidden_units),
        "dropout": model.dropout,
        "learning_rate": trainer.learning_rate,
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
