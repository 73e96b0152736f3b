"""The in-memory evaluator against estimator.evaluate() and TensorFlow's own hook, in real sessions.

The parity tests run for both designs: "in_place" (the eval graph on the training variables,
in the training session) and "copy" (a separate eval session the weights are copied into).
"""

import numpy as np
import pytest
import tensorflow as tf

from estimator_inmemory import (
    EndlessEvalDataError,
    EvaluationFailedError,
    InMemoryEvaluatorHook,
    eval_input_fn,
)
from helpers import estimator_for, summaries, train_steps

DESIGNS = ["in_place", "copy"]


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("model", ["dnn", "mlp"])
def test_metrics_equal_estimator_evaluate_on_the_same_weights(tmp_path, data, model, design):
    # A checkpoint at every evaluation step: estimator.evaluate() on it sees exactly the
    # weights the hook evaluated (the latest ones, not the previous checkpoint's).
    estimator = estimator_for(tmp_path, data, model, save_checkpoints_steps=40)
    hook = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), every_n_iter=40, design=design
    )
    train_steps(estimator, data, 120, hook)
    assert hook._design_used == design
    assert list(hook.history) == [0, 40, 80, 120]
    for step, metrics in hook.history.items():
        path = f"{tmp_path}/model.ckpt-{step}"
        expected = estimator.evaluate(eval_input_fn(data, 128), checkpoint_path=path, name="ref")
        assert metrics.keys() == expected.keys()
        for key, value in expected.items():
            assert metrics[key] == pytest.approx(value, rel=1e-6, abs=1e-7), (step, key)


@pytest.mark.parametrize("design", DESIGNS)
def test_same_summaries_as_tensorflows_hook(tmp_path, data, design):
    ours = estimator_for(tmp_path / "ours", data)
    hook = InMemoryEvaluatorHook(ours, eval_input_fn(data, 128), every_n_iter=25, design=design)
    train_steps(ours, data, 100, hook)
    stock = estimator_for(tmp_path / "stock", data)
    stock_hook = tf.estimator.experimental.InMemoryEvaluatorHook(
        stock, eval_input_fn(data, 128), every_n_iter=25
    )
    train_steps(stock, data, 100, stock_hook)
    ours_summaries, stock_summaries = (
        summaries(tmp_path / "ours/eval"),
        summaries(tmp_path / "stock/eval"),
    )
    assert sorted(ours_summaries) == sorted(stock_summaries) == [0, 25, 50, 75, 100]
    for step, tags in stock_summaries.items():
        assert ours_summaries[step].keys() == tags.keys()
        for tag, value in tags.items():
            assert ours_summaries[step][tag] == pytest.approx(value, rel=1e-5), (step, tag)


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize(
    "max_steps, expected", [(100, [0, 30, 60, 90, 100]), (90, [0, 30, 60, 90])]
)
def test_evaluates_at_start_every_n_and_end_never_twice(
    tmp_path, data, max_steps, expected, design
):
    estimator = estimator_for(tmp_path, data)
    seen = []
    hook = InMemoryEvaluatorHook(
        estimator,
        eval_input_fn(data, 128),
        every_n_iter=30,
        design=design,
        callbacks=[
            lambda evaluation: seen.append((evaluation.step, evaluation.metrics["global_step"]))
        ],
    )
    train_steps(estimator, data, max_steps, hook)
    assert list(hook.history) == expected
    assert seen == [(step, step) for step in expected]
    assert hook.latest == hook.history[expected[-1]]


@pytest.mark.parametrize("design", DESIGNS)
def test_resumed_run_keeps_the_global_step_cadence(tmp_path, data, design):
    estimator = estimator_for(tmp_path, data)
    first = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), every_n_iter=50, design=design
    )
    train_steps(estimator, data, 70, first)
    resumed = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), every_n_iter=50, design=design
    )
    train_steps(estimator, data, 210, resumed)
    assert list(first.history) == [0, 50, 70]
    assert list(resumed.history) == [70, 100, 150, 200, 210]


def test_every_n_secs_schedules_by_time(tmp_path, data):
    estimator = estimator_for(tmp_path, data)
    hook = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), every_n_iter=None, every_n_secs=1e-9
    )
    train_steps(estimator, data, 5, hook)
    assert list(hook.history) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("design", DESIGNS)
def test_named_evaluations_write_separate_folders(tmp_path, data, design):
    estimator = estimator_for(tmp_path, data)
    on_eval = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), every_n_iter=50, design=design
    )
    train_data = type(data)(data.train_x, data.train_y, data.train_x, data.train_y, 10)
    on_train = InMemoryEvaluatorHook(
        estimator,
        eval_input_fn(train_data, 512),
        steps=1,
        name="train",
        every_n_iter=50,
        design=design,
    )
    train_steps(estimator, data, 100, on_eval, on_train)
    assert (
        sorted(summaries(tmp_path / "eval"))
        == sorted(summaries(tmp_path / "eval_train"))
        == [0, 50, 100]
    )
    assert on_eval.history[100]["accuracy"] != on_train.history[100]["accuracy"]
    for hook, input_fn, steps in (
        (on_eval, eval_input_fn(data, 128), None),
        (on_train, eval_input_fn(train_data, 512), 1),
    ):
        expected = estimator.evaluate(input_fn, steps=steps, name="ref")
        assert hook.history[100]["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-7)


@pytest.mark.parametrize("design", DESIGNS)
def test_eval_graph_is_finalized_and_does_not_grow(tmp_path, data, design):
    # In place, the eval graph is the training graph: 0 ops added per evaluation too.
    estimator = estimator_for(tmp_path, data)
    sizes = []
    hook = InMemoryEvaluatorHook(
        estimator,
        eval_input_fn(data, 128),
        every_n_iter=1,
        design=design,
        callbacks=[
            lambda _: sizes.append(
                (len(hook._eval.graph.get_operations()), hook._eval.graph.finalized)
            )
        ],
    )
    train_steps(estimator, data, 30, hook)
    assert len(sizes) == 31 and len(set(sizes)) == 1 and sizes[0][1]


@pytest.mark.parametrize("design", DESIGNS)
def test_reusing_the_hook_for_a_second_train_call_does_not_repeat_a_step(tmp_path, data, design):
    estimator = estimator_for(tmp_path, data)
    hook = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), every_n_iter=50, design=design
    )
    train_steps(estimator, data, 70, hook)
    train_steps(estimator, data, 120, hook)
    assert list(hook.history) == [0, 50, 70, 100, 120]


class FailFrom(tf.estimator.SessionRunHook):
    """An eval hook that breaks every evaluation from a given global step on."""

    def __init__(self, step):
        self.step, self.global_step = step, None

    def begin(self):
        self.global_step = tf.compat.v1.train.get_global_step()

    def after_create_session(self, session, coord):
        if session.run(self.global_step) >= self.step:
            raise OSError("eval data went away")


@pytest.mark.parametrize("design", DESIGNS)
def test_failing_evaluation_names_its_step_and_leaves_checkpoints_intact(tmp_path, data, design):
    # The eval hook reads the global step through the session it is handed: in place, its
    # eval graph's variable is translated to the imported one, mapped onto training's.
    estimator = estimator_for(tmp_path, data, save_checkpoints_steps=50)
    hook = InMemoryEvaluatorHook(
        estimator,
        eval_input_fn(data, 128),
        hooks=[FailFrom(100)],
        every_n_iter=50,
        design=design,
    )
    with pytest.raises(
        EvaluationFailedError, match=r"\(eval\) at global step 100 failed: .*went away"
    ):
        train_steps(estimator, data, 300, hook)
    assert list(hook.history) == [0, 50]
    checkpoint = tf.train.latest_checkpoint(str(tmp_path))
    assert checkpoint.endswith("model.ckpt-100")
    assert tf.train.load_checkpoint(checkpoint).get_tensor("global_step") == 100
    assert np.isfinite(estimator.evaluate(eval_input_fn(data, 128), name="after")["loss"])


@pytest.mark.parametrize("design", DESIGNS)
def test_summaries_that_cannot_be_written_stop_training_naming_the_step(tmp_path, data, design):
    # Summaries are written on a thread of their own; its failure still stops training.
    estimator = estimator_for(tmp_path, data, save_checkpoints_steps=50)
    (tmp_path / "eval").write_text("a file where the summary folder should be")
    hook = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), every_n_iter=50, design=design
    )
    with pytest.raises(
        EvaluationFailedError,
        match=r"\(eval\) could not write the summaries of global step 0 to .*eval: ",
    ):
        train_steps(estimator, data, 300, hook)
    assert max(hook.history) < 300  # stopped early, not at the end
    assert (tmp_path / "eval").read_text().startswith("a file")


def test_eval_input_fn_that_raises_stops_before_training(tmp_path, data):
    def broken_input_fn():
        raise FileNotFoundError("eval.csv")

    estimator = estimator_for(tmp_path, data)
    hook = InMemoryEvaluatorHook(estimator, broken_input_fn, every_n_iter=50)
    with pytest.raises(
        EvaluationFailedError, match="before training started: FileNotFoundError: eval.csv"
    ):
        train_steps(estimator, data, 100, hook)
    assert tf.train.latest_checkpoint(str(tmp_path)) is None


@pytest.mark.parametrize("design", DESIGNS)
def test_endless_eval_dataset_is_refused_before_training(tmp_path, data, design):
    estimator = estimator_for(tmp_path, data)
    endless = eval_input_fn(data, 128)
    hook = InMemoryEvaluatorHook(
        estimator, lambda: endless().repeat(), every_n_iter=50, design=design
    )
    with pytest.raises(EndlessEvalDataError, match="endless dataset"):
        train_steps(estimator, data, 100, hook)
    assert tf.train.latest_checkpoint(str(tmp_path)) is None


@pytest.mark.parametrize("design", DESIGNS)
def test_steps_evaluate_the_same_first_batches_each_time(tmp_path, data, design):
    # steps=1 of 3 batches: every evaluation must see the first batch, as evaluate(steps=1) does.
    estimator = estimator_for(tmp_path, data, save_checkpoints_steps=10)
    hook = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), steps=1, every_n_iter=10, design=design
    )
    train_steps(estimator, data, 30, hook)
    for step, metrics in hook.history.items():
        expected = estimator.evaluate(
            eval_input_fn(data, 128), steps=1, checkpoint_path=f"{tmp_path}/model.ckpt-{step}"
        )
        assert metrics["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-7), step


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every_n_iter": 0}, "every_n_iter must be a positive integer"),
        ({"every_n_iter": -5}, "every_n_iter must be a positive integer"),
        ({"every_n_iter": None}, "every_n_iter and every_n_secs are both None"),
        ({"every_n_secs": 0}, "every_n_secs must be a positive number"),
        ({"steps": 0}, "steps must be a positive integer"),
    ],
)
def test_constructor_rejects_bad_schedules_as_value_errors(tmp_path, data, kwargs, message):
    # ValueError, as TensorFlow's hook raises: code catching that keeps working.
    with pytest.raises(ValueError, match=message):
        InMemoryEvaluatorHook(estimator_for(tmp_path, data), eval_input_fn(data, 128), **kwargs)
