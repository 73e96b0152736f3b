"""Every private TensorFlow and Estimator API the in-memory evaluator uses, in one place.

TensorFlow's own InMemoryEvaluatorHook relies on the same calls. They are not public and
may differ between versions: when a TensorFlow release breaks one, this module is the
only place to look, and `tests/test_tf_internals.py` checks each of them on the pinned
version.
"""

from __future__ import annotations

from tensorflow.python.training.monitored_session import _HookedSession
from tensorflow.python.util import function_utils
from tensorflow_estimator.python.estimator.estimator import _write_dict_to_summary
from tensorflow_estimator.python.estimator.training import (
    _ContinuousEvalListener,
    _EvalStatus,
    _TrainingExecutor,
)
from tensorflow_estimator.python.estimator.util import _DatasetInitializerHook

# Runs session hooks around each `run()` of a plain session (MonitoredSession's helper).
HookedSession = _HookedSession
# The hook Estimator adds to start a tf.data iterator in a new session.
DatasetInitializerHook = _DatasetInitializerHook
# tf.estimator.train_and_evaluate's own executor: train_and_evaluate(estimator, train_spec,
# eval_spec) is _TrainingExecutor(estimator, train_spec, eval_spec).run() after checks
# of the specs the executor repeats; only through it can an evaluator be given a listener.
TrainingExecutor = _TrainingExecutor
# What the executor's evaluator loop asks after each evaluation: `after_eval(result)`
# returning False ends the loop at once, before the throttle_secs sleep.
ContinuousEvalListener = _ContinuousEvalListener
EVALUATED = _EvalStatus.EVALUATED
# Estimator methods and attributes used below (checked on the pinned version by the tests).
ESTIMATOR_ATTRIBUTES = ("_evaluate_build_graph", "_session_config")


def build_eval_graph(estimator, input_fn, hooks):
    """In the default graph, exactly what estimator.evaluate() builds.

    Returns (scaffold, update_op, eval_dict, hooks): the metric update op, the metric
    values (with `global_step`) and the hooks evaluate() would run (input hooks included).
    """
    return estimator._evaluate_build_graph(input_fn, hooks, checkpoint_path=None)


def dataset_initializer(hook):
    """The iterator initializer op of an Estimator input hook, after its begin()."""
    return hook._initializer


def is_partitioned(variable) -> bool:
    """Whether a variable is one slice of a partitioned variable."""
    return getattr(variable, "_save_slice_info", None) is not None


def session_config(estimator):
    """The tf.compat.v1.ConfigProto the estimator's own sessions use."""
    return estimator._session_config


def write_summaries(output_dir: str, metrics: dict, global_step: int) -> None:
    """Write eval metrics as summaries, exactly as estimator.evaluate() does."""
    _write_dict_to_summary(output_dir, metrics, global_step)


def input_fn_args(input_fn) -> tuple[str, ...]:
    """The argument names of an input_fn (mode, params, config are passed when named)."""
    return tuple(function_utils.fn_args(input_fn))
