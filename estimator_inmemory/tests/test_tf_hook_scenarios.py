"""TensorFlow Estimator's own test scenarios for its InMemoryEvaluatorHook, against ours.

Source: tensorflow/estimator, tensorflow_estimator/python/estimator/hooks/hooks_test.py,
class InMemoryEvaluatorHookTest (read at commit 07d38ddc4e1daaf244bdccb06da667bbecd6cce7).
Each scenario is rewritten here against `estimator_inmemory.InMemoryEvaluatorHook`, for
both designs where the scenario trains. Where our contract deliberately differs, the test
asserts our documented behaviour and says how TensorFlow's differs:

- Refusals: TensorFlow raises a plain ValueError ("supports only single machine", "does not
  support custom saver", "... custom init_fn", "... saveables"); ours raise subclasses of
  UnsupportedSetupError, itself a ValueError (so `except ValueError` still works), one per
  cause, with a message naming the cause and the way out. A non-variable saveable is
  refused in `begin()`, before the training session exists (TensorFlow: after it).
- Schedule: both evaluate before the first step, every `every_n_iter` and at the end; ours
  counts global steps (TensorFlow: its own iterations) and never evaluates twice at one
  step (TensorFlow does when training ends on a multiple of every_n_iter). In these
  scenarios both give the same steps.
"""

import json

import pytest
import tensorflow as tf

import estimator_inmemory as inmemory
from estimator_inmemory import InMemoryEvaluatorHook
from helpers import summaries

DESIGNS = ["in_place", "copy"]


def range_10():
    return tf.data.Dataset.range(10)


def counting_model_fn(features, labels, mode):
    """Training only counts steps; evaluation averages the features (a Keras metric)."""
    if mode == tf.estimator.ModeKeys.TRAIN:
        with tf.control_dependencies([features]):
            train_op = tf.compat.v1.assign_add(tf.compat.v1.train.get_global_step(), 1)
        return tf.estimator.EstimatorSpec(mode, loss=tf.constant(3.0), train_op=train_op)
    mean = tf.keras.metrics.Mean()
    mean.update_state(features)
    return tf.estimator.EstimatorSpec(
        mode, loss=tf.constant(5.0), eval_metric_ops={"mean_of_features": mean}
    )


@pytest.mark.parametrize("design", DESIGNS)
def test_runs_eval_metrics(tmp_path, design):
    estimator = tf.estimator.Estimator(counting_model_fn, str(tmp_path))
    hook = InMemoryEvaluatorHook(estimator, range_10, every_n_iter=4, design=design)
    estimator.train(range_10, hooks=[hook])  # 10 steps: the input ends
    found = summaries(estimator.eval_dir())
    # Before training, every 4 steps, and at the end; 4.5 = mean(range(10)).
    assert sorted(found) == [0, 4, 8, 10]
    for step in found:
        assert found[step]["mean_of_features"] == 4.5, step
    assert hook._design_used == design
    assert {step: m["mean_of_features"] for step, m in hook.history.items()} == dict.fromkeys(
        [0, 4, 8, 10], 4.5
    )


def latest_weight_model_fn(features, labels, mode):
    """Training sets w to global step + 2; evaluation reports w."""
    step = tf.compat.v1.train.get_global_step()
    w = tf.compat.v1.get_variable(
        "w", shape=[], initializer=tf.compat.v1.initializers.zeros(), dtype=tf.int64
    )
    if mode == tf.estimator.ModeKeys.TRAIN:
        with tf.control_dependencies([features]):
            step_inc = tf.compat.v1.assign_add(step, 1)
        with tf.control_dependencies([step_inc]):
            assign_w = w.assign(step + 2)
        return tf.estimator.EstimatorSpec(mode, loss=tf.constant(3.0), train_op=assign_w)
    with tf.control_dependencies([features]):
        loss = tf.constant(5.0)
    mean = tf.keras.metrics.Mean()
    mean.update_state(w)
    return tf.estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={"mean_of_const": mean})


@pytest.mark.parametrize("design", DESIGNS)
def test_uses_latest_variable_value(tmp_path, design):
    estimator = tf.estimator.Estimator(latest_weight_model_fn, str(tmp_path))
    hook = InMemoryEvaluatorHook(estimator, range_10, every_n_iter=4, design=design)
    estimator.train(range_10, hooks=[hook])
    found = summaries(estimator.eval_dir())
    # w = 0 before training, else global step + 2: the weights of that very step.
    assert {step: tags["mean_of_const"] for step, tags in found.items()} == {
        0: 0,
        4: 6,
        8: 10,
        10: 12,
    }
    assert hook._design_used == design


@pytest.mark.parametrize("design", DESIGNS)
def test_dnn_classifier(tmp_path, design):
    # An embedding over a vocabulary list: a lookup table the evaluation initialises itself.
    embedding = tf.feature_column.embedding_column(
        tf.feature_column.categorical_column_with_vocabulary_list(
            "wire_cast", ["kima", "omar", "stringer"]
        ),
        8,
    )
    dnn = tf.estimator.DNNClassifier(
        feature_columns=[embedding],
        hidden_units=[3, 1],
        model_dir=str(tmp_path),
        # An optimizer object: TF 2.12/2.13's canned estimators crash resolving a name.
        optimizer=lambda: tf.keras.optimizers.legacy.Adagrad(0.05),
    )

    def train_input_fn():
        return tf.data.Dataset.from_tensors(
            ({"wire_cast": [["omar"], ["kima"]]}, [[0], [1]])
        ).repeat(3)

    def eval_input_fn():
        return tf.data.Dataset.from_tensors(
            ({"wire_cast": [["stringer"], ["kima"]]}, [[0], [1]])
        ).repeat(2)

    hook = InMemoryEvaluatorHook(dnn, eval_input_fn, name="in-memory", design=design)
    dnn.train(train_input_fn, hooks=[hook])
    found = summaries(dnn.eval_dir("in-memory"))
    final = dnn.evaluate(eval_input_fn)
    step = final["global_step"]
    assert sorted(found) == [0, step] == [0, 3]
    for tag, value in final.items():
        if tag != "global_step":
            assert found[step][tag] == pytest.approx(value, abs=0), tag  # equal, as TF asserts
    assert hook._design_used == design


@pytest.mark.parametrize(
    "cluster, cause",
    [
        ({"chief": ["host0:0"], "worker": ["host3:3", "host4:4", "host5:5"]}, "3 worker"),
        ({"chief": ["host0:0"], "ps": ["host1:1"]}, "1 ps"),
    ],
    ids=["multi_worker", "ps"],
)
def test_raise_error_with_multi_worker_or_ps(tmp_path, monkeypatch, cluster, cause):
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "chief", "index": 0}})
    )
    dnn = tf.estimator.DNNClassifier(
        feature_columns=[tf.feature_column.numeric_column("x")],
        hidden_units=[3, 1],
        model_dir=str(tmp_path),
    )
    # TensorFlow: ValueError "supports only single machine". Ours: MultiNodeError, a
    # ValueError, naming the cluster and evaluation from checkpoints as the way out.
    with pytest.raises(inmemory.MultiNodeError, match=f"multi-node cluster.*{cause}") as raised:
        InMemoryEvaluatorHook(dnn, lambda: None)
    assert isinstance(raised.value, ValueError)
    assert "train_and_evaluate" in str(raised.value)


def scaffold_model_fn(scaffold):
    """Every mode: a constant loss and a Keras mean, with `scaffold()` as its Scaffold."""

    def model_fn(features, labels, mode):
        mean = tf.keras.metrics.Mean()
        mean.update_state(tf.constant(2.0))
        return tf.estimator.EstimatorSpec(
            mode,
            loss=tf.constant(3.0),
            scaffold=scaffold(),
            train_op=tf.constant(5.0),
            eval_metric_ops={"mean_of_features": mean},
        )

    return model_fn


@pytest.mark.parametrize(
    "scaffold, error, cause",
    [
        (
            lambda: tf.compat.v1.train.Scaffold(saver=tf.compat.v1.train.Saver()),
            inmemory.CustomSaverError,
            "Scaffold(saver=...)",
        ),
        (
            lambda: tf.compat.v1.train.Scaffold(init_fn=lambda scaffold, session: None),
            inmemory.CustomInitFnError,
            "Scaffold(init_fn=...)",
        ),
    ],
    ids=["custom_saver", "custom_init_fn"],
)
def test_raise_error_with_custom_saver_or_init_fn_in_eval(tmp_path, scaffold, error, cause):
    estimator = tf.estimator.Estimator(scaffold_model_fn(scaffold), str(tmp_path))
    hook = InMemoryEvaluatorHook(estimator, range_10)
    # As TensorFlow's: raised by begin(), which builds the eval graph.
    with tf.Graph().as_default(), pytest.raises(error) as raised:
        hook.begin()
    assert cause in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_raise_error_with_saveables_other_than_global_variables(tmp_path):
    def scaffold():
        w = tf.compat.v1.Variable(
            initial_value=[0.0],
            trainable=False,
            collections=[tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS],
        )
        init_op = tf.group([w.initializer, tf.compat.v1.train.get_global_step().initializer])
        return tf.compat.v1.train.Scaffold(init_op=init_op)

    estimator = tf.estimator.Estimator(scaffold_model_fn(scaffold), str(tmp_path))
    hook = InMemoryEvaluatorHook(estimator, range_10)
    with pytest.raises(inmemory.SaveableObjectsError, match="state that is not a variable"):
        estimator.train(range_10, hooks=[hook])
    # Refused in begin(), before the training session: nothing was trained or saved.
    assert tf.train.latest_checkpoint(str(tmp_path)) is None
