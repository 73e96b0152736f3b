"""The model the benchmarks time: an MLP model_fn on synthetic data (shared by them)."""

from __future__ import annotations

import itertools

import numpy as np
import tensorflow as tf

INPUTS, CLASSES, BATCH = 256, 10, 32


def n_params(hidden: list[int]) -> int:
    widths = [INPUTS, *hidden, CLASSES]
    return sum(a * b + b for a, b in itertools.pairwise(widths))


def model_fn(features, labels, mode, params):
    net = features["x"]
    for i, units in enumerate(params["hidden"]):
        net = tf.keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(net)
    logits = tf.keras.layers.Dense(CLASSES, name="logits")(net)
    loss = tf.compat.v1.losses.sparse_softmax_cross_entropy(labels, logits)
    if mode == tf.estimator.ModeKeys.EVAL:
        accuracy = tf.compat.v1.metrics.accuracy(labels, tf.argmax(logits, 1))
        return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={"accuracy": accuracy})
    train_op = tf.compat.v1.train.AdagradOptimizer(0.01).minimize(
        loss, global_step=tf.compat.v1.train.get_global_step()
    )
    return tf.estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def input_fn(n_examples: int, repeat: bool, seed: int):
    def make():
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n_examples, INPUTS)).astype(np.float32)
        y = rng.integers(0, CLASSES, n_examples).astype(np.int32)
        ds = tf.data.Dataset.from_tensor_slices(({"x": x}, y))
        return (ds.repeat() if repeat else ds).batch(BATCH)

    return make
