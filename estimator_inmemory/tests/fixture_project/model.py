"""The fixture project's models: the canned DNN and linear Estimators, and a model_fn of
the tests' own (`mlp_model_fn`), which no user edits."""

import tensorflow as tf

from estimator_inmemory import Registry, feature_columns

MODELS = Registry("model")


def optimizer(trainer):
    # An object factory, not a name: TF 2.12/2.13's canned estimators crash resolving names.
    return lambda: tf.keras.optimizers.legacy.Adagrad(trainer.learning_rate)


@MODELS.register("dnn")
def dnn(model, trainer, data, config):
    common = dict(
        hidden_units=list(model.hidden_units), feature_columns=feature_columns(data),
        optimizer=optimizer(trainer), dropout=model.dropout, config=config,
    )  # fmt: skip
    if data.task == "regression":
        return tf.estimator.DNNRegressor(**common)
    return tf.estimator.DNNClassifier(n_classes=data.n_classes, **common)


@MODELS.register("linear")
def linear(model, trainer, data, config):
    common = dict(feature_columns=feature_columns(data), optimizer=optimizer(trainer), config=config)
    if data.task == "regression":
        return tf.estimator.LinearRegressor(**common)
    return tf.estimator.LinearClassifier(n_classes=data.n_classes, **common)


@MODELS.register("mlp")
def mlp(model, trainer, data, config):
    params = {
        "hidden_units": list(model.hidden_units),
        "learning_rate": trainer.learning_rate,
        "task": data.task,
        "n_classes": data.n_classes,
        "feature_columns": feature_columns(data),
    }
    return tf.estimator.Estimator(mlp_model_fn, params=params, config=config)


def mlp_model_fn(features, labels, mode, params):
    """A small multi-layer perceptron with the canned heads' metric names."""
    net = tf.compat.v1.feature_column.input_layer(features, params["feature_columns"])
    init = tf.compat.v1.glorot_uniform_initializer()  # seeded by the graph, as canned
    for i, units in enumerate(params["hidden_units"]):
        net = tf.keras.layers.Dense(units, "relu", kernel_initializer=init, name=f"h{i}")(net)
    regression = params["task"] == "regression"
    outputs = 1 if regression else params["n_classes"]
    out = tf.keras.layers.Dense(outputs, kernel_initializer=init, name="out")(net)
    if regression:
        predictions = {"predictions": out}
    else:
        class_ids = tf.argmax(out, axis=1)[:, tf.newaxis]
        predictions = {"class_ids": class_ids, "probabilities": tf.nn.softmax(out), "logits": out}
    if mode == tf.estimator.ModeKeys.PREDICT:
        return tf.estimator.EstimatorSpec(mode, predictions=predictions)
    if regression:
        labels = tf.reshape(tf.cast(labels, out.dtype), [-1, 1])
        per_example = tf.math.squared_difference(out, labels)
        metrics = {"average_loss": tf.compat.v1.metrics.mean(per_example)}
    else:
        labels = tf.reshape(labels, [-1])
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=out)
        metrics = {
            "accuracy": tf.compat.v1.metrics.accuracy(labels, class_ids[:, 0]),
            "average_loss": tf.compat.v1.metrics.mean(per_example),
        }
    loss = tf.reduce_mean(per_example)
    train_op = None
    if mode == tf.estimator.ModeKeys.TRAIN:
        step = tf.compat.v1.train.get_global_step()
        train_op = tf.compat.v1.train.AdagradOptimizer(params["learning_rate"]).minimize(loss, step)
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op, eval_metric_ops=metrics)
