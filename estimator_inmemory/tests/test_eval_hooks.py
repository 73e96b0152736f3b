"""Eval hooks (`hooks=`) keep their SessionRunHook contract in both designs.

In place, a hook's `begin()` ran in the eval graph, which is then imported into the
training graph: the session it is handed translates its fetches and feeds (tensors,
operations, variables, names) to the imported elements; each batch runs as one callable
cached per fetch structure; `run_context.request_stop()` ends that evaluation.
"""

import pytest
import tensorflow as tf

from estimator_inmemory import InMemoryEvaluatorHook, eval_input_fn
from helpers import estimator_for, train_steps

DESIGNS = ["in_place", "copy"]


class Probe(tf.estimator.SessionRunHook):
    """Fetches a variable, an op of its own and a fed placeholder, every eval batch."""

    def __init__(self):
        self.calls = {"begin": 0, "after_create_session": 0, "end": 0}
        self.seen = []  # per batch: (global step, doubled step, fed + 1)
        self.sessions = []

    def begin(self):
        self.calls["begin"] += 1
        self.step = tf.compat.v1.train.get_global_step()
        self.doubled = self.step.read_value() * 2
        self.fed = tf.compat.v1.placeholder(tf.int64, [], name="probe_feed")
        self.fed_plus_one = self.fed + 1

    def after_create_session(self, session, coord):
        self.calls["after_create_session"] += 1
        self.start_step = session.run(self.step)

    def before_run(self, run_context):
        self.sessions.append(run_context.session)
        return tf.estimator.SessionRunArgs(
            {"step": self.step, "doubled": self.doubled.name, "plus": self.fed_plus_one},
            feed_dict={self.fed: len(self.seen)},
        )

    def after_run(self, run_context, run_values):
        r = run_values.results
        self.seen.append((r["step"], r["doubled"], r["plus"]))

    def end(self, session):
        self.calls["end"] += 1


@pytest.mark.parametrize("design", DESIGNS)
def test_hook_fetches_and_feeds_reach_the_evaluated_graph(tmp_path, data, design):
    probe = Probe()
    estimator = estimator_for(tmp_path, data)
    hook = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), hooks=[probe], every_n_iter=10, design=design
    )
    train_steps(estimator, data, 20, hook)
    assert hook._design_used == design
    assert probe.calls == {"begin": 1, "after_create_session": 3, "end": 3}
    steps = [step for step in (0, 10, 20) for _ in range(3)]  # 3 batches per evaluation
    assert probe.seen == [(s, 2 * s, i + 1) for i, s in enumerate(steps)]
    assert probe.start_step == 20
    expected = estimator.evaluate(eval_input_fn(data, 128), name="ref")
    assert hook.latest["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-7)


def test_in_place_runs_each_fetch_structure_as_one_cached_callable(tmp_path, data):
    probe = Probe()
    estimator = estimator_for(tmp_path, data)
    hook = InMemoryEvaluatorHook(estimator, eval_input_fn(data, 128), hooks=[probe], every_n_iter=5)
    train_steps(estimator, data, 20, hook)
    assert hook._design_used == "in_place"
    assert len(probe.seen) == 5 * 3
    # A new dict each batch, the same structure: one callable for all 15 batches.
    session = probe.sessions[0]
    assert len(session._callables) == 1


class StopAfter(tf.estimator.SessionRunHook):
    def __init__(self, batches):
        self.batches, self.done = batches, 0

    def after_create_session(self, session, coord):
        self.done = 0

    def after_run(self, run_context, run_values):
        self.done += 1
        if self.done == self.batches:
            run_context.request_stop()


@pytest.mark.parametrize("design", DESIGNS)
def test_request_stop_ends_that_evaluation_and_the_next_starts_afresh(tmp_path, data, design):
    # Each evaluation sees the first batch only, as estimator.evaluate(steps=1) does.
    estimator = estimator_for(tmp_path, data, save_checkpoints_steps=10)
    stop = StopAfter(1)
    hook = InMemoryEvaluatorHook(
        estimator, eval_input_fn(data, 128), hooks=[stop], every_n_iter=10, design=design
    )
    train_steps(estimator, data, 20, hook)
    assert hook._design_used == design
    assert list(hook.history) == [0, 10, 20]
    for step, metrics in hook.history.items():
        expected = estimator.evaluate(
            eval_input_fn(data, 128), steps=1, checkpoint_path=f"{tmp_path}/model.ckpt-{step}"
        )
        assert metrics["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-7), step
