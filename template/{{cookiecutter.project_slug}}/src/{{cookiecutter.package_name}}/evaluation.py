"""Evaluation while training, on the live weights, with no checkpoint in between.

For now this is TensorFlow's `tf.estimator.experimental.InMemoryEvaluatorHook` plus
one readable log line (and a kept result) per evaluation: the stock hook computes each
evaluation's metrics, writes them as TensorBoard summaries to `model_dir/eval` (or
`eval_<name>`) and then drops them.
"""

from __future__ import annotations

import logging

import tensorflow as tf

log = logging.getLogger(__name__)


class InMemoryEvaluatorHook(tf.estimator.experimental.InMemoryEvaluatorHook):
    """The stock in-memory evaluator, keeping and logging each evaluation's metrics.

    Same constructor as TensorFlow's. `history` lists every evaluation's results
    (a dict of metric name to value, including `global_step`) in order.
    """

    def __init__(self, estimator, input_fn, steps=None, hooks=None, name=None, every_n_iter=100):
        super().__init__(estimator, input_fn, steps, hooks, name, every_n_iter)
        self.history: list[dict] = []

    def _evaluate(self, train_session):
        # The stock hook discards what Estimator._evaluate_run returns: catch it on the way.
        evaluate_run = self._estimator._evaluate_run

        def keep_results(**kwargs):
            results = evaluate_run(**kwargs)
            self._record(results)
            return results

        self._estimator._evaluate_run = keep_results
        try:
            super()._evaluate(train_session)
        finally:
            del self._estimator._evaluate_run

    def _record(self, results: dict) -> None:
        results = {key: _plain(value) for key, value in results.items()}
        self.history.append(results)
        log.info(format_metrics(results, self._name))


def format_metrics(results: dict, name: str | None = None) -> str:
    """One line per evaluation, e.g. `eval step 200: accuracy=0.9417 loss=0.2124`."""
    label = "eval" if not name else f"eval_{name}"
    metrics = " ".join(
        f"{key}={value:.4g}" for key, value in sorted(results.items()) if key != "global_step"
    )
    return f"{label} step {results['global_step']}: {metrics}"


def _plain(value):
    return value.item() if hasattr(value, "item") else value
