"""In-place evaluation leaves training as it is without the hook, and falls back when unsure.

In place, the eval graph is imported into the training graph and runs on the training
variables themselves: these tests check that the training checkpoint, the training
summaries and the training graph's collections do not notice, that the evaluated weights
are the checkpoint's, and that setups the mapping cannot place fall back to the copy
design with one log line (or are refused when in_place is forced).
"""

import logging
import re

import numpy as np
import pytest
import tensorflow as tf

import estimator_inmemory
from estimator_inmemory import InMemoryEvaluatorHook, eval_input_fn
from fixture_project.model import mlp_model_fn
from helpers import estimator_for, mlp_params, train_steps

DESIGNS = ["in_place", "copy"]
HOOK_LOGGER = "estimator_inmemory.hook"


def fallback_lines(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == HOOK_LOGGER and "copies the weights" in r.getMessage()
    ]


class CollectionsProbe(tf.estimator.SessionRunHook):
    """Records the training graph's collections once the training session exists."""

    def after_create_session(self, session, coord):
        graph = session.graph
        self.collections = {
            key: sorted(_describe(item) for item in graph.get_collection(key))
            for key in graph.get_all_collection_keys()
        }


def _describe(item) -> str:
    return getattr(item, "name", None) or type(item).__name__


def training_events(model_dir):
    """Training summaries (model_dir's own event files) as step -> {tag: value or None}.

    Leaves out `global_step/sec`: its value is a wall-clock rate.
    """
    found = {}
    for path in sorted(tf.io.gfile.glob(f"{model_dir}/events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "global_step/sec":
                    continue
                kind = value.WhichOneof("value")
                shown = value.simple_value if kind == "simple_value" else None
                if kind == "histo":
                    shown = (value.histo.sum, value.histo.num)
                found.setdefault(event.step, {})[value.tag] = shown
    return found


@pytest.mark.parametrize("model", ["dnn", "mlp"])
def test_shipped_models_are_evaluated_in_place_by_default(tmp_path, data, model, caplog):
    caplog.set_level(logging.INFO, logger=HOOK_LOGGER)
    estimator = estimator_for(tmp_path, data, model)
    hook = InMemoryEvaluatorHook(estimator, eval_input_fn(data, 128), every_n_iter=50)
    train_steps(estimator, data, 50, hook)
    assert hook._design_used == "in_place"
    assert fallback_lines(caplog) == []


@pytest.mark.parametrize("model", ["dnn", "mlp"])
def test_training_is_the_same_with_and_without_the_hook(tmp_path, data, model):
    # Same checkpoint variables (names, shapes, values), same training summaries, same
    # collections in the training graph: the evaluation is invisible to training.
    runs = {}
    for design in [None, *DESIGNS]:
        model_dir = tmp_path / str(design)
        # Keras layers draw their initial weights from Python's and NumPy's generators too.
        tf.keras.utils.set_random_seed(0)
        estimator = estimator_for(model_dir, data, model)
        probe = CollectionsProbe()
        hooks = [probe]
        if design is not None:
            hooks.append(
                InMemoryEvaluatorHook(
                    estimator, eval_input_fn(data, 128), every_n_iter=20, design=design
                )
            )
        train_steps(estimator, data, 120, *hooks)
        checkpoint = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(model_dir)))
        shapes = checkpoint.get_variable_to_shape_map()
        runs[design] = (
            shapes,
            {name: checkpoint.get_tensor(name) for name in shapes},
            training_events(model_dir),
            probe.collections,
        )
    shapes, values, events, collections = runs[None]
    assert "global_step" in shapes and len(events) >= 2
    for design in DESIGNS:
        other_shapes, other_values, other_events, other_collections = runs[design]
        assert other_shapes == shapes, design
        for name, value in values.items():
            np.testing.assert_array_equal(other_values[name], value, err_msg=name)
        assert other_collections == collections, design
        # The same summaries (nothing of the evaluation among them), written as often. Which
        # training step's summary is written near a multiple of save_summary_steps is decided
        # by a race inside TensorFlow, with or without our hook: the global step read in the
        # same session.run as the train op may be from before or after its increment. So the
        # steps may differ by one, and the values with them; the weights above may not.
        assert len(other_events) == len(events), design
        for (step, tags), (other_step, other_tags) in zip(
            sorted(events.items()), sorted(other_events.items())
        ):
            assert abs(other_step - step) <= 1, (design, step, other_step)
            assert other_tags.keys() == tags.keys(), (design, step)


@pytest.mark.parametrize("design", DESIGNS)
def test_weights_are_the_checkpoint_values_of_that_step(tmp_path, data, design):
    estimator = estimator_for(tmp_path, data, "mlp", save_checkpoints_steps=20)
    seen = {}
    hook = InMemoryEvaluatorHook(
        estimator,
        eval_input_fn(data, 128),
        every_n_iter=20,
        design=design,
        callbacks=[lambda evaluation: seen.setdefault(evaluation.step, evaluation.weights())],
    )
    train_steps(estimator, data, 60, hook)
    assert hook._design_used == design
    assert sorted(seen) == [0, 20, 40, 60]
    for step, weights in seen.items():
        checkpoint = tf.train.load_checkpoint(f"{tmp_path}/model.ckpt-{step}")
        names = set(checkpoint.get_variable_to_shape_map())
        # Exactly the evaluated variables: the model's and the global step, no optimizer slots.
        assert set(weights) == {n for n in names if "Adagrad" not in n}
        for name, value in weights.items():
            np.testing.assert_array_equal(value, checkpoint.get_tensor(name), err_msg=name)
    assert not np.array_equal(seen[0]["out/kernel"], seen[60]["out/kernel"])


@pytest.mark.parametrize("design", DESIGNS)
def test_weights_read_after_the_callbacks(tmp_path, data, design):
    # In place the variables have moved on by then: refused, not silently wrong. The copy
    # design holds the fetched values, so they stay right.
    kept = []
    estimator = estimator_for(tmp_path, data)
    hook = InMemoryEvaluatorHook(
        estimator,
        eval_input_fn(data, 128),
        every_n_iter=10,
        design=design,
        callbacks=[kept.append],
    )
    train_steps(estimator, data, 20, hook)
    if design == "in_place":
        with pytest.raises(RuntimeError, match="step 0 was first called after its callbacks"):
            kept[0].weights()
    else:
        assert kept[0].weights()["global_step"] == 0


def strategy_config(strategy):
    return tf.estimator.RunConfig(train_distribute=strategy, save_checkpoints_steps=10)


def mlp_estimator(model_dir, data, model_fn=mlp_model_fn, config=None):
    config = (config or tf.estimator.RunConfig(save_checkpoints_steps=10)).replace(
        model_dir=str(model_dir)
    )
    return tf.estimator.Estimator(model_fn, params=mlp_params(data), config=config)


def test_distribution_strategy_falls_back_to_the_copy_with_one_log_line(tmp_path, data, caplog):
    # OneDeviceStrategy: MirroredStrategy over two logical CPUs hangs Estimator on some
    # machines; the fallback is decided by train_distribute being set, whichever it is.
    caplog.set_level(logging.INFO, logger=HOOK_LOGGER)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    estimator = mlp_estimator(tmp_path, data, config=strategy_config(strategy))
    hook = InMemoryEvaluatorHook(estimator, eval_input_fn(data, 128), every_n_iter=10)
    train_steps(estimator, data, 20, hook)
    assert hook._design_used == "copy"
    assert fallback_lines(caplog) == [
        (
            "in-memory evaluation (eval) copies the weights: train_distribute="
            "OneDeviceStrategy keeps a copy of each variable per replica"
        )
    ]
    expected = estimator.evaluate(eval_input_fn(data, 128), name="ref")
    assert hook.latest["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-6)


def test_forcing_in_place_under_a_distribution_strategy_is_refused(tmp_path, data):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    estimator = mlp_estimator(tmp_path, data, config=strategy_config(strategy))
    with pytest.raises(
        estimator_inmemory.InPlaceUnsupportedError, match="train_distribute=Mirrored"
    ):
        InMemoryEvaluatorHook(
            estimator, eval_input_fn(data, 128), every_n_iter=10, design="in_place"
        )


def with_variable(**get_variable_kwargs):
    """mlp_model_fn, its loss scaled by one more variable created as given."""

    def model_fn(features, labels, mode, params):
        scale = tf.compat.v1.get_variable(
            "scale",
            shape=[params["n_classes"]],
            initializer=tf.ones_initializer(),
            **get_variable_kwargs,
        )
        spec = mlp_model_fn(features, labels, mode, params)
        return spec._replace(loss=spec.loss * tf.reduce_mean(scale))

    return model_fn


def writing_in_eval(features, labels, mode, params):
    """mlp_model_fn whose EVAL scaffold writes a model variable (here: to itself)."""
    spec = with_variable()(features, labels, mode, params)
    if mode != tf.estimator.ModeKeys.EVAL:
        return spec
    with tf.compat.v1.variable_scope("", reuse=True):
        scale = tf.compat.v1.get_variable("scale")
    rewrite = scale.assign(scale.read_value(), read_value=False)
    return spec._replace(scaffold=tf.compat.v1.train.Scaffold(local_init_op=rewrite))


UNPLACEABLE = [
    (
        with_variable(partitioner=tf.compat.v1.fixed_size_partitioner(2)),
        "scale/part_0 is a partitioned variable",
    ),
    (with_variable(use_resource=False), "scale is not a resource variable"),
    (
        writing_in_eval,
        r"the eval graph's op \S+ \(AssignVariableOp\) may write the variable scale",
    ),
]
UNPLACEABLE_IDS = ["partitioned", "reference_variable", "writes_a_variable"]


@pytest.mark.parametrize("model_fn, reason", UNPLACEABLE, ids=UNPLACEABLE_IDS)
def test_what_the_mapping_cannot_place_falls_back_to_the_copy(
    tmp_path, data, caplog, model_fn, reason
):
    caplog.set_level(logging.INFO, logger=HOOK_LOGGER)
    estimator = mlp_estimator(tmp_path, data, model_fn)
    hook = InMemoryEvaluatorHook(estimator, eval_input_fn(data, 128), every_n_iter=10)
    train_steps(estimator, data, 20, hook)
    assert hook._design_used == "copy"
    (line,) = fallback_lines(caplog)
    assert re.fullmatch(f"in-memory evaluation \\(eval\\) copies the weights: {reason}", line)
    for step, metrics in hook.history.items():
        expected = estimator.evaluate(
            eval_input_fn(data, 128), checkpoint_path=f"{tmp_path}/model.ckpt-{step}"
        )
        assert metrics["loss"] == pytest.approx(expected["loss"], rel=1e-6), step


@pytest.mark.parametrize("model_fn, reason", UNPLACEABLE, ids=UNPLACEABLE_IDS)
def test_forcing_in_place_where_it_cannot_map_is_refused_before_training(
    tmp_path, data, model_fn, reason
):
    estimator = mlp_estimator(tmp_path, data, model_fn)
    hook = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), every_n_iter=10, design="in_place"
    )
    with pytest.raises(estimator_inmemory.InPlaceUnsupportedError, match=reason):
        train_steps(estimator, data, 20, hook)
    assert tf.train.latest_checkpoint(str(tmp_path)) is None


class CountBatches(tf.estimator.SessionRunHook):
    def __init__(self):
        self.batches = 0

    def after_run(self, run_context, run_values):
        self.batches += 1


@pytest.mark.parametrize("design", [None, "copy"])
def test_eval_hooks_keep_their_contract_in_place_by_default(tmp_path, data, caplog, design):
    caplog.set_level(logging.INFO, logger=HOOK_LOGGER)
    counter = CountBatches()
    estimator = estimator_for(tmp_path, data)
    hook = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), hooks=[counter], every_n_iter=10, design=design
    )
    train_steps(estimator, data, 20, hook)
    assert hook._design_used == (design or "in_place")
    assert fallback_lines(caplog) == []
    assert counter.batches == 3 * 3  # 3 evaluations of 3 batches (360 examples, 128 a batch)


def test_unknown_design_is_refused(tmp_path, data):
    with pytest.raises(estimator_inmemory.UnsupportedSetupError, match="design='fast'"):
        InMemoryEvaluatorHook(
            estimator_for(tmp_path, data), eval_input_fn(data, 128), design="fast"
        )
