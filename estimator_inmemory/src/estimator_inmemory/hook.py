"""In-memory evaluation while training: a drop-in for TensorFlow's InMemoryEvaluatorHook.

`InMemoryEvaluatorHook(estimator, input_fn, steps=None, hooks=None, name=None,
every_n_iter=100)` takes the same arguments as
`tf.estimator.experimental.InMemoryEvaluatorHook`, writes the same summaries to the same
folder (`model_dir/eval` or `model_dir/eval_<name>`) and computes the same metrics as
`estimator.evaluate()` on the same weights. It differs where the stock hook is slow or
wrong:

- The eval graph is built once per training run, exactly as `estimator.evaluate()` builds
  it, and evaluated in one of two designs (see the design note at the end):
  - "in_place" (the default wherever it is certain): the eval graph is imported into the
    training graph with each eval variable mapped onto the training variable's own
    handle, and runs in the training session between two training steps. Nothing is
    copied; the evaluation's own state (metric variables, iterator) lives under names of
    its own and in no collection, so the training checkpoint, summaries and collections
    are exactly as without the hook. Eval data stays out of the training graph: large
    constants only the eval iterator's (or tables') initialisers read, e.g. a NumPy eval
    set given to `from_tensor_slices`, become placeholders fed once when the iterator is
    initialised; and the imported evaluation is left out of the training GraphDef as it is
    saved (graph.pbtxt, every checkpoint's .meta, the event file's graph), which is the
    same as without the hook. Eval `hooks=` run here too, handed a session that
    translates their fetches and feeds to the imported graph elements.
  - "copy": a separate eval session, kept open; each evaluation fetches the training
    variables once and assigns them in one grouped op. Chosen, with one log line saying
    why, when the mapping is not certain (a `train_distribute` strategy, a partitioned or
    non-resource variable, an eval op that could write a variable, a variable in no
    collection, a graph that does not import).
  Either way an evaluation is a reset of the metric variables, the eval batches and one
  fetch of the metric values, and no op is added per evaluation. The stock hook opens,
  initialises (randomly, then overwrites) and closes a new `MonitoredSession` per
  evaluation, and adds 6 ops to its eval graph each time.
- Scheduled by global step (evaluations land on multiples of `every_n_iter`, so a resumed
  run keeps its cadence), optionally also every `every_n_secs` seconds; never twice at the
  same step.
- The summaries are written (and the event file flushed) on a thread of the hook's own,
  so the training loop does not wait for the disk (a remote model_dir: for the network);
  all are written when `estimator.train()` returns, and one that cannot be written stops
  training with `EvaluationFailedError`, as a failed evaluation does.
- Results are data: `history` maps global step to that evaluation's metrics, `latest` is
  the last of them, and each callback in `callbacks` receives an `Evaluation` (step,
  metrics, label, the evaluated weights on request, and a way to stop training).
- The eval input_fn must return a `tf.data.Dataset` (as `estimator.evaluate()` accepts;
  TensorFlow's hook also takes (features, labels) tensors): the evaluation stays open for
  the whole run, and a one-shot iterator or queue it cannot restart is refused before
  training (`EvalInputNotDatasetError`).
- An evaluation that fails raises `EvaluationFailedError` naming the global step; training
  stops there, and checkpoints written so far are untouched (the evaluation only reads
  the training variables: in place, any other use of their handles falls back to the
  copy).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from . import guards, tf_internals
from .errors import (
    EndlessEvalDataError,
    EvalInputNotDatasetError,
    EvaluationFailedError,
    InPlaceUnsupportedError,
    UnsupportedSetupError,
)

log = logging.getLogger(__name__)
DESIGNS = (None, "in_place", "copy")


@dataclass
class Evaluation:
    """One evaluation, as the callbacks see it."""

    step: int  # the global step of the evaluated weights
    metrics: dict  # metric name -> Python number, `global_step` included
    label: str  # "eval" or "eval_<name>": the summary folder and the log label
    _weights: Callable[[], dict] = field(repr=False)
    _stop: Callable[[str], None] = field(repr=False)

    def weights(self) -> dict:
        """The evaluated weights: checkpoint name -> numpy array (read once, then cached).

        In the in-place design they are read from the training session on the first call,
        which must come from a callback: once the callbacks return, training moves the
        variables on and an unread `weights()` raises RuntimeError.
        """
        return self._weights()

    def request_stop(self, reason: str) -> None:
        """Ask the training loop to stop after this step (it saves its last checkpoint)."""
        self._stop(reason)


EvaluationCallback = Callable[[Evaluation], None]


class InMemoryEvaluatorHook(tf.estimator.SessionRunHook):
    """Evaluates the live training weights at the start, every N steps and at the end.

    Args:
      estimator: the `tf.estimator.Estimator` being trained.
      input_fn: the eval input function, as for `estimator.evaluate`; it must return a
        `tf.data.Dataset` (EvalInputNotDatasetError otherwise).
      steps: eval batches per evaluation; None evaluates until `input_fn` is exhausted.
      hooks: `SessionRunHook`s for the evaluation, as for `estimator.evaluate`. They get
        `begin()` once per training run (in the eval graph), then per evaluation
        `after_create_session()`, `before_run()`/`after_run()` around each eval batch, and
        `end()`; `run_context.request_stop()` ends that evaluation (the next one starts
        from the first batch). In place, the session they are handed runs their tensors,
        operations, variables or names of the eval graph as the imported ones.
      name: None writes summaries to `model_dir/eval`, else to `model_dir/eval_<name>`.
      every_n_iter: evaluate whenever the global step reaches a new multiple of it.
      every_n_secs: also evaluate when this many seconds passed since the last evaluation.
      callbacks: each is called as `callback(evaluation)` after every evaluation, in order.
      design: None chooses by itself: "in_place" (the eval graph runs on the training
        variables themselves, in the training session) when every eval variable maps with
        certainty onto its training variable, else "copy" (a separate eval session the
        weights are copied into), logging one line that says why. "in_place" or "copy"
        forces one; forcing "in_place" on a setup it cannot map raises
        InPlaceUnsupportedError.

    Attributes:
      label: "eval" or "eval_<name>", the basename of `eval_dir`.
      eval_dir: where the summaries go.
      history: global step -> metrics of every evaluation this hook made.
      latest: the last evaluation's metrics, or None.
      stop_reason: why a callback stopped training, or None.

    Raises:
      UnsupportedSetupError (a ValueError), here for a bad schedule, an unsupported
        TensorFlow/Keras, a multi-node TF_CONFIG or RunConfig, or an unsupported
        distribution; in `begin()`, before the training session exists, for model graphs
        it cannot evaluate correctly (state that is not a variable, custom savers or
        init_fn in EVAL mode, eval variables the training graph lacks).
      EvaluationFailedError, during training, when an evaluation fails.
    """

    def __init__(
        self,
        estimator,
        input_fn,
        steps=None,
        hooks=None,
        name=None,
        every_n_iter=100,
        *,
        every_n_secs=None,
        callbacks: Sequence[EvaluationCallback] = (),
        design: str | None = None,
    ):
        if design not in DESIGNS:
            raise UnsupportedSetupError(
                f"design={design!r}: use None (automatic), 'in_place' or 'copy'"
            )
        guards.check_schedule(every_n_iter, every_n_secs, steps)
        guards.check_runtime()
        guards.check_tf_config(os.environ.get("TF_CONFIG"))
        guards.check_run_config(estimator.config)
        self._estimator = estimator
        self._input_fn = input_fn
        self._steps = steps
        self._user_hooks = list(hooks or [])
        self._every_n_iter = every_n_iter
        self._every_n_secs = every_n_secs
        self._callbacks = list(callbacks)
        self._design = design
        if design == "in_place" and estimator.config.train_distribute is not None:
            raise InPlaceUnsupportedError(
                f"design='in_place' cannot evaluate under train_distribute="
                f"{type(estimator.config.train_distribute).__name__}: each replica holds its "
                "own copy of the variables. Use design=None or 'copy'"
            )
        self.eval_dir = estimator.eval_dir(name)
        self.label = os.path.basename(self.eval_dir)
        self.history: dict[int, dict] = {}
        self.stop_reason: str | None = None
        self._prepared = None  # the eval graph prepare() built, until begin() takes it
        self._eval = None  # _InPlaceEval or _CopyEval, from begin() to end()
        self._summaries = None  # _SummaryWriter, from begin() to end()
        self._design_used = None  # "in_place" or "copy", once begin() has chosen
        # Kept across estimator.train() calls: a resumed call does not evaluate again at the
        # step the previous one ended on.
        self._last_step = None
        self._last_time = None

    @property
    def latest(self) -> dict | None:
        """The metrics of the last evaluation (with `global_step`), or None before the first."""
        return self.history[next(reversed(self.history))] if self.history else None

    def add_callbacks(self, *callbacks: EvaluationCallback) -> None:
        """Call these too, in order, after each evaluation (before training starts)."""
        self._callbacks.extend(callbacks)

    def skip_step(self, step: int) -> None:
        """Treat `step` as evaluated already (a resumed run's last evaluated step)."""
        self._last_step = step
        self._last_time = time.monotonic()

    def prepare(self) -> list[str]:
        """Build the eval graph now, before training, and check it; return its metric names.

        `begin()` then uses this eval graph instead of building its own, so a run builds it
        once. Raises what `begin()` would for the eval graph (UnsupportedSetupError for a
        setup it cannot evaluate, EvaluationFailedError when the eval input_fn or model_fn
        fails), before anything touches model_dir.
        """
        if self._prepared is None:
            self._prepared = self._build_eval_graph()
        return sorted(self._prepared.eval_dict)

    def checked_training(self, estimator=None, *, resume_from: str | None = None):
        """An Estimator that trains exactly as `estimator` (default: the evaluated one) and
        checks its training graph as Estimator builds it (`guards.checking_training_graph`).

        The checks `begin()` makes of the training graph (state that is not a variable,
        eval variables with no training twin), and with `resume_from` (a checkpoint path)
        that the checkpoint holds exactly the training graph's variables, then raise before
        Estimator's own hooks create event files or its session restores from model_dir:
        a refused run leaves model_dir as it was, and no graph is built twice.
        """
        self.prepare()
        eval_graph = self._prepared

        def check(train_graph):
            guards.check_graphs(train_graph, eval_graph.graph, eval_graph.scaffold)
            if resume_from is not None:
                guards.check_resume(train_graph, resume_from)

        return guards.checking_training_graph(estimator or self._estimator, check)

    # SessionRunHook

    def begin(self):
        self._close_eval_session()
        self._global_step = tf.compat.v1.train.get_global_step()
        train_graph = tf.compat.v1.get_default_graph()
        eval_graph, self._prepared = self._prepared or self._build_eval_graph(), None
        with self._building():
            self._eval = self._place(eval_graph, train_graph)
        self._design_used = self._eval.design
        self._summaries = _SummaryWriter(self.eval_dir, self.label, train_graph)

    def after_create_session(self, session, coord):
        # A new training session (the first, or one recreated after an error).
        try:
            self._eval.start(session)
        except Exception as error:
            raise EvaluationFailedError(
                f"in-memory evaluation ({self.label}) could not start in the training "
                f"session: {type(error).__name__}: {error}"
            ) from error
        # A callable: read at every step where an evaluation is due, and session.run()
        # with a fetch costs ~0.3 ms of Python per call on a training graph.
        self._read_step = session.make_callable(self._global_step)
        step = int(self._read_step())
        if step != self._last_step:
            self._evaluate(step)
            if self.stop_reason is not None:
                coord.request_stop()

    def before_run(self, run_context):
        return tf.estimator.SessionRunArgs(self._global_step)

    def after_run(self, run_context, run_values):
        # The step read with the train op may be from before its increment; read it
        # again only when it is (about to be) time to evaluate.
        if self._is_due(run_values.results + 1):
            step = int(self._read_step())
            if self._is_due(step):
                self._evaluate(step)
                if self.stop_reason is not None:
                    run_context.request_stop()

    def end(self, session):
        step = int(self._read_step())
        if step != self._last_step:
            self._evaluate(step)
        self._close_eval_session()

    # Internals

    def _is_due(self, step: int) -> bool:
        if self._last_step is None:
            return True
        if step == self._last_step:
            return False
        if (
            self._every_n_iter
            and step // self._every_n_iter > self._last_step // self._every_n_iter
        ):
            return True
        return bool(self._every_n_secs) and time.monotonic() - self._last_time >= self._every_n_secs

    def _build_eval_graph(self) -> _EvalGraph:
        with self._building():
            return _EvalGraph(self._estimator, self._input_fn, self._steps, self._user_hooks)

    @contextlib.contextmanager
    def _building(self):
        """Refusals pass as they are; any other failure to build the evaluation (the eval
        input_fn or model_fn raising) becomes an EvaluationFailedError, before training."""
        try:
            yield
        except UnsupportedSetupError:
            raise
        except Exception as error:
            raise EvaluationFailedError(
                f"in-memory evaluation ({self.label}) could not build its eval graph, before "
                f"training started: {type(error).__name__}: {error}"
            ) from error

    def _place(self, eval_graph: _EvalGraph, train_graph):
        """Bind the eval graph to the training graph, in place where certain, else copied."""
        eval_graph.bind(train_graph)
        if self._design == "copy":
            return _CopyEval(eval_graph, self._estimator)
        try:
            plan = _in_place_plan(eval_graph, self._estimator)
            return _InPlaceEval(eval_graph, train_graph, self.label, plan)
        except _CannotMap as cannot:
            reason = str(cannot)
        if self._design == "in_place":
            raise InPlaceUnsupportedError(
                f"design='in_place' cannot evaluate ({self.label}) in place: {reason}. "
                "Use design=None (falls back to copying the weights) or design='copy'"
            )
        log.info("in-memory evaluation (%s) copies the weights: %s", self.label, reason)
        return _CopyEval(eval_graph, self._estimator)

    def _evaluate(self, step: int) -> None:
        try:
            raw, read_weights = self._eval.evaluate()
        except Exception as error:
            raise EvaluationFailedError(
                f"in-memory evaluation ({self.label}) at global step {step} failed: "
                f"{type(error).__name__}: {error}"
            ) from error
        self._summaries.write(raw)
        metrics = {
            key: value.item() if hasattr(value, "item") else value for key, value in raw.items()
        }
        self.history[step] = metrics
        self._last_step, self._last_time = step, time.monotonic()
        weights = _WeightsOnce(read_weights, step, self.label)
        evaluation = Evaluation(
            step, metrics, self.label, _weights=weights, _stop=self._request_stop
        )
        try:
            for callback in self._callbacks:
                callback(evaluation)
        finally:
            # In place, the variables move on with the next training step.
            weights.between_steps = self._eval.design == "copy"

    def _request_stop(self, reason: str) -> None:
        self.stop_reason = reason

    def _close_eval_session(self):
        if self._eval is not None:
            self._eval.close()
            self._eval = None
        if self._summaries is not None:
            summaries, self._summaries = self._summaries, None
            summaries.close()  # all written and flushed when training returns


class _SummaryWriter:
    """Writes each evaluation's summaries, as estimator.evaluate() does, on its own thread.

    Writing them flushes and syncs the event file, and waits for the file writer's thread,
    which has to get a core while TensorFlow's are busy: 0.26-0.33 ms per evaluation at 5M
    parameters, most of the in-place design's overhead there. Here the training thread
    only queues them. `close()` waits until all are written; a write that failed raises
    EvaluationFailedError at the next evaluation or at `close()`.
    """

    def __init__(self, eval_dir: str, label: str, graph):
        self._eval_dir, self._label = eval_dir, label
        # The graph the event file's writer records, as from the training thread (graph
        # mode is per thread; the graph is final, so reading it here is safe).
        self._graph = graph
        self._queue: queue.Queue = queue.Queue()
        self._error: str | None = None
        self._thread = threading.Thread(
            target=self._write_loop, name=f"{label}-summaries", daemon=True
        )
        self._thread.start()

    def write(self, metrics: dict) -> None:
        self._raise_error()
        self._queue.put(metrics)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise EvaluationFailedError(error)

    def _write_loop(self) -> None:
        while (metrics := self._queue.get()) is not None:
            if self._error is not None:
                continue
            step = metrics["global_step"]
            try:
                with self._graph.as_default():
                    tf_internals.write_summaries(self._eval_dir, metrics, step)
            except Exception as error:  # noqa: BLE001 - raised on the training thread
                self._error = (
                    f"in-memory evaluation ({self._label}) could not write the summaries of "
                    f"global step {step} to {self._eval_dir}: {type(error).__name__}: {error}"
                )


class _WeightsOnce:
    """An evaluation's weights: read on the first call (while still valid), then cached."""

    def __init__(self, read: Callable[[], dict], step: int, label: str):
        self._read, self._step, self._label = read, step, label
        self._weights = None
        self.between_steps = True  # False once training may have changed the variables

    def __call__(self) -> dict:
        if self._weights is None:
            if not self.between_steps:
                raise RuntimeError(
                    f"Evaluation.weights() of {self._label} step {self._step} was first called "
                    "after its callbacks returned; in-place evaluation reads the live training "
                    "variables, which training has changed since: call weights() inside the "
                    "callback"
                )
            self._weights = self._read()
        return self._weights


class _EvalGraph:
    """The model's eval graph, built in a scratch graph exactly as estimator.evaluate() builds it."""

    def __init__(self, estimator, input_fn, steps, user_hooks):
        self.graph = tf.Graph()
        self._epoch = None
        with self.graph.as_default():
            # The same graph estimator.evaluate() builds: same metrics, same names.
            self.scaffold, update_op, eval_dict, hooks = tf_internals.build_eval_graph(
                estimator, self._endless(input_fn, steps), user_hooks
            )
            if self._epoch is None:
                # Measured: with a one-shot iterator, every evaluation after the first ran
                # no batch and reported 0 accuracy; queue runners would never be started.
                raise EvalInputNotDatasetError(
                    "the eval input_fn returns tensors, not a tf.data.Dataset: in-memory "
                    "evaluation keeps its evaluation open for the whole run and cannot "
                    "restart them (a one-shot iterator ends after the first evaluation, "
                    "queue runners are never started). Return the Dataset itself (e.g. "
                    "`return dataset` instead of its iterator's get_next()); Estimator "
                    "builds and restarts its iterator"
                )
            for hook in hooks:
                hook.begin()
            guards.check_eval_graph(self.graph, self.scaffold)
            self.eval_variables = tf.compat.v1.global_variables()
            # Metrics accumulate in local variables: zero them before every evaluation.
            self.reset_metrics = tf.compat.v1.variables_initializer(tf.compat.v1.local_variables())
            self.local_init = (
                self.scaffold.local_init_op or tf.compat.v1.train.Scaffold.default_local_init_op()
            )
        self.update_op = self.graph.as_graph_element(update_op)
        self.eval_dict = {k: self.graph.as_graph_element(v) for k, v in eval_dict.items()}
        self.input_hooks = [h for h in hooks if isinstance(h, tf_internals.DatasetInitializerHook)]
        self.other_hooks = [h for h in hooks if h not in self.input_hooks]
        self.steps = steps
        self.train_variables = self.checkpoint_names = None  # bind()

    def bind(self, train_graph) -> None:
        """Check the eval graph against the training graph, and pair each eval variable
        with its training twin (same name, dtype and shape)."""
        guards.check_graphs(train_graph, self.graph, self.scaffold)
        by_name = {
            v.name: v for v in train_graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
        }
        self.train_variables = [by_name[v.name] for v in self.eval_variables]
        # The names a Saver gives the evaluated variables in a checkpoint.
        self.checkpoint_names = [v.op.name for v in self.train_variables]

    def _endless(self, input_fn, steps):
        """input_fn, its dataset repeated: one iterator for the whole run.

        Re-initialising a tf.data iterator re-optimises the dataset graph (about 14 ms
        for a two-batch eval set) and leaks a little memory each time; in the training
        session, after training steps, an in-place prototype saw it stall 420-470 ms in
        about half of the evaluations (issue 13). Repeating the eval dataset (after `take(steps)`, when steps are
        given) and running exactly one epoch of batches per evaluation feeds every
        evaluation the same batches as a fresh iterator would, without those costs. The
        eval set must therefore be the same on every pass (as a held-out set is); a
        pipeline that prefetches may read the start of the next pass before the next
        evaluation.
        """
        wanted = tf_internals.input_fn_args(input_fn)

        def endless_input_fn(mode, params, config):
            given = {"mode": mode, "params": params, "config": config}
            result = input_fn(**{k: v for k, v in given.items() if k in wanted})
            if not isinstance(result, tf.data.Dataset):
                return result  # (features, labels) tensors: read until OutOfRange or steps
            epoch = result.take(steps) if steps else result
            self._epoch = (
                tf.data.experimental.cardinality(epoch),
                epoch.reduce(np.int64(0), lambda count, _: count + 1),
            )
            return epoch.repeat()

        return endless_input_fn

    @property
    def is_dataset(self) -> bool:
        return self._epoch is not None

    @property
    def counting_ops(self) -> set[str]:
        """The names of the ops `_endless` added to count one pass (not the evaluation's)."""
        return {t.op.name for t in self._epoch} if self._epoch is not None else set()

    def count_epoch_batches(self, session) -> int | None:
        """Batches in one pass of the eval dataset (None when input_fn returns tensors)."""
        if self._epoch is None:
            return None
        cardinality, count = self._epoch
        batches = session.run(cardinality)
        if batches == tf.data.INFINITE_CARDINALITY:
            raise EndlessEvalDataError(
                "the eval input_fn returns an endless dataset (does it repeat()?), so an "
                "evaluation would never end: remove the repeat or pass steps="
            )
        if batches == tf.data.UNKNOWN_CARDINALITY:
            batches = session.run(count)  # one pass over the input, once per run
        return int(batches)


class _CopyEval:
    """Design "copy": the eval graph in its own session, kept open; each evaluation copies
    the training variables into it (one fetch, one grouped assign)."""

    design = "copy"

    def __init__(self, eval_graph: _EvalGraph, estimator):
        self.checkpoint_names = eval_graph.checkpoint_names
        self.graph = eval_graph.graph
        self._train_variables = eval_graph.train_variables
        with self.graph.as_default():
            weights = [
                tf.compat.v1.placeholder(v.dtype.base_dtype, v.shape)
                for v in eval_graph.eval_variables
            ]
            assign = tf.group(
                [v.assign(w, read_value=False) for v, w in zip(eval_graph.eval_variables, weights)]
            )
            init = eval_graph.scaffold.init_op or tf.compat.v1.global_variables_initializer()
        self.graph.finalize()  # nothing below may add an op: the graph cannot grow
        self.session = tf.compat.v1.Session(
            graph=self.graph, config=tf_internals.session_config(estimator)
        )
        try:
            self.session.run(init)  # every shared variable is overwritten before each evaluation
            self.session.run(eval_graph.local_init)  # local variables and lookup tables
            self.load = self.session.make_callable(assign, feed_list=weights)
            self._reset_metrics = self.session.make_callable(eval_graph.reset_metrics)
            self._run_update = self.session.make_callable(eval_graph.update_op)
            self._read_metrics = self.session.make_callable(eval_graph.eval_dict)
            self._batches = eval_graph.count_epoch_batches(self.session)
        except Exception:
            self.session.close()
            raise
        self._update_op = eval_graph.update_op
        self._steps = eval_graph.steps
        self._input_hooks = eval_graph.input_hooks
        self._hooks = eval_graph.other_hooks
        # Hooks that only act at session creation need no per-batch hook machinery.
        self._per_batch_hooks = [h for h in self._hooks + self._input_hooks if _acts_per_batch(h)]
        self._coord = tf.compat.v1.train.Coordinator()
        self._restart_input = True
        self.fetch = None

    def start(self, train_session) -> None:
        """A new training session (the first, or one recreated after an error)."""
        self.fetch = train_session.make_callable(self._train_variables)

    def evaluate(self) -> tuple[dict, Callable[[], dict]]:
        weights = self.fetch()
        self.load(*weights)
        return self.run(), lambda: dict(zip(self.checkpoint_names, weights))

    def run(self) -> dict:
        """One evaluation pass over the weights already loaded: the evaluation's own work."""
        self._reset_metrics()
        if self._restart_input:
            for hook in self._input_hooks:
                hook.after_create_session(self.session, self._coord)
        for hook in self._hooks:
            hook.after_create_session(self.session, self._coord)
        if self._per_batch_hooks:
            hooked = tf_internals.HookedSession(self.session, self._input_hooks + self._hooks)
            run_batch, should_stop = (lambda: hooked.run(self._update_op)), hooked.should_stop
        else:
            run_batch, should_stop = self._run_update, (lambda: False)
        limit = self._batches if self._batches is not None else self._steps
        done = 0
        while (limit is None or done < limit) and not should_stop():
            try:
                run_batch()
            except tf.errors.OutOfRangeError:
                break
            done += 1
        # A pass that stopped short of the epoch's end (a hook asked to stop, or the input
        # ended early) leaves the iterator mid-epoch: start it afresh next time.
        self._restart_input = self._batches is None or done != self._batches
        results = self._read_metrics()
        for hook in self._hooks:
            hook.end(self.session)
        return results

    def close(self):
        self.session.close()


# Ops that only read a resource variable: the only uses of a training variable's handle
# the imported evaluation may make.
_READ_OPS = frozenset(
    {"ReadVariableOp", "ResourceGather", "ResourceGatherNd", "VariableShape", "VarIsInitializedOp"}
)
_VARIABLE_OPS = frozenset({"VarHandleOp", "VariableV2", "Variable"})
# A constant of at least this many bytes that only the session-start ops (the iterator's
# and the local initialisers) read is imported as a placeholder and fed once, when they
# run: eval data (a NumPy eval set given to from_tensor_slices is one Const per array)
# then stays out of the training GraphDef, so out of graph.pbtxt and every .meta. Smaller
# constants (batch sizes, flags) stay: they cost nothing and shape inference may use them.
_FEED_ONCE_BYTES = 1024
# Distinct fetch structures of eval hooks given a callable each (a hook that fetches a
# new structure every batch would otherwise grow the cache without bound).
_MAX_CALLABLES = 64


@dataclass
class _Plan:
    """What `_InPlaceEval` imports into the training graph, and how it runs it."""

    graph_def: object  # the pruned eval GraphDef, its fed-once constants as placeholders
    update_op: str  # op names in the eval graph (and under the import scope)
    reset: str
    local_init: str
    iterator_init: str
    fed: dict  # placeholder name -> the constant's value, fed when the initialisers run
    local_feeds: list  # the placeholders local_init reads
    iterator_feeds: list  # the placeholders iterator_init reads


class _InPlaceEval:
    """Design "in_place": the eval graph imported into the training graph, its variables
    mapped onto the training variables' own handles, run in the training session between
    two training steps. Nothing is copied; nothing is added to the training graph's
    collections, so its Saver, summaries, init and ready ops do not see the evaluation.

    Eval hooks run here too: they were built (`begin()`) in the eval graph, so the session
    they are handed translates their fetches and feeds to the imported elements, and each
    batch runs the metric update with the hooks' fetches as one cached callable.
    """

    design = "in_place"

    def __init__(self, eval_graph: _EvalGraph, train_graph, label: str, plan: _Plan):
        self.checkpoint_names = eval_graph.checkpoint_names
        self.graph = train_graph
        self._train_variables = eval_graph.train_variables
        with tf.compat.v1.Session(graph=eval_graph.graph) as scratch:
            # Before training starts: an endless eval set is refused here.
            self._batches = eval_graph.count_epoch_batches(scratch)
        scope = train_graph.unique_name(f"in_memory_{label}", mark_as_used=True)
        mapped = {
            f"{v.op.name}:0": train.handle
            for v, train in zip(eval_graph.eval_variables, eval_graph.train_variables)
        }
        for node in plan.graph_def.node:
            # The evaluation's own state (metric variables, iterator, tables) gets shared
            # names of its own: it never aliases the training session's resources.
            if "shared_name" in node.attr and node.attr["shared_name"].s:
                node.attr["shared_name"].s = f"{scope}/{node.name}".encode()
        names = [t.name for t in eval_graph.eval_dict.values()]
        targets = [plan.update_op, plan.reset, plan.local_init, plan.iterator_init]
        feeds = [f"{name}:0" for name in plan.fed]
        ops_before = len(train_graph.get_operations())
        functions_before = {f.signature.name for f in train_graph.as_graph_def().library.function}
        try:
            with train_graph.as_default():
                elements = tf.compat.v1.import_graph_def(
                    plan.graph_def,
                    input_map=mapped,
                    return_elements=[*targets, *names, *feeds],
                    name=f"{scope}/",
                )
        except (ValueError, tf.errors.OpError) as error:
            # TensorFlow imports all or nothing; fall back only if that held.
            if len(train_graph.get_operations()) != ops_before:
                raise
            raise _CannotMap(
                f"the eval graph does not import into the training graph ({error})"
            ) from error
        _leave_out_when_saved(
            train_graph,
            scope,
            {f.signature.name for f in plan.graph_def.library.function} - functions_before,
        )
        # Functions the eval graph calls (e.g. tf.data's py_function) are registered
        # against it: keep it alive as long as its imported copy.
        self._scratch_graph = eval_graph.graph
        self._scope = scope
        placeholders = dict(zip(plan.fed, elements[4 + len(names) :]))
        self._local_feeds = [(placeholders[n], plan.fed[n]) for n in plan.local_feeds]
        self._iterator_feeds = [(placeholders[n], plan.fed[n]) for n in plan.iterator_feeds]
        self._fetches = (
            *elements[:4],
            dict(zip(eval_graph.eval_dict, elements[4 : 4 + len(names)])),
        )
        self._update_op_in_eval_graph = eval_graph.update_op
        self._hooks = eval_graph.other_hooks
        # Hooks that only act at session creation need no per-batch hook machinery.
        self._per_batch_hooks = [h for h in self._hooks if _acts_per_batch(h)]
        self._hook_session = None
        self._restart_input = True

    def start(self, train_session) -> None:
        """A new training session: initialise the evaluation's own state in it, once."""
        update_op, reset, local_init, iterator_init, eval_dict = self._fetches
        _callable(train_session, local_init, [p for p, _ in self._local_feeds])(
            *(value for _, value in self._local_feeds)
        )  # local variables and lookup tables of the evaluation
        init_iterator = _callable(
            train_session, iterator_init, [p for p, _ in self._iterator_feeds]
        )
        values = [value for _, value in self._iterator_feeds]
        self._init_iterator = lambda: init_iterator(*values)
        self._reset_metrics = train_session.make_callable(reset)
        self._run_update = train_session.make_callable(update_op)
        self._read_metrics = train_session.make_callable(eval_dict)
        self.fetch = train_session.make_callable(self._train_variables)
        if self._hooks:
            self._hook_session = _ImportedSession(
                train_session, self._scratch_graph, self._scope, update_op
            )
        self._init_iterator()  # once per training session, not per evaluation
        self._restart_input = False

    def evaluate(self) -> tuple[dict, Callable[[], dict]]:
        raw = self.run()
        return raw, lambda: dict(zip(self.checkpoint_names, self.fetch()))

    def run(self) -> dict:
        """One evaluation pass: the evaluation's own work, in the training session."""
        self._reset_metrics()
        if self._restart_input:
            self._init_iterator()
        coord = tf.compat.v1.train.Coordinator()
        for hook in self._hooks:
            hook.after_create_session(self._hook_session, coord)
        if self._per_batch_hooks:
            done = self._hooked_batches()
        else:
            done = 0
            while done < self._batches:
                try:
                    self._run_update()
                except tf.errors.OutOfRangeError:
                    break
                done += 1
        # A pass that stopped short of the epoch's end (a hook asked to stop) leaves the
        # iterator mid-epoch: start it afresh next time.
        self._restart_input = done != self._batches
        results = self._read_metrics()
        for hook in self._hooks:
            hook.end(self._hook_session)
        return results

    def _hooked_batches(self) -> int:
        """The eval batches with the per-batch hooks around each, as MonitoredSession runs
        them: before_run, one run of the update op with every hook's fetches and feeds,
        after_run; a hook's request_stop() ends this evaluation."""
        args = tf.estimator.SessionRunArgs(self._update_op_in_eval_graph)
        done = 0
        while done < self._batches:
            context = tf.estimator.SessionRunContext(args, self._hook_session)
            requests = [hook.before_run(context) for hook in self._per_batch_hooks]
            try:
                results, options, metadata = self._hook_session.run_batch(requests)
            except tf.errors.OutOfRangeError:
                break
            done += 1
            for hook, result in zip(self._per_batch_hooks, results):
                hook.after_run(context, tf.estimator.SessionRunValues(result, options, metadata))
            if context.stop_requested:
                break
        return done

    def close(self):
        self._hook_session = None  # everything else lives in the training graph and session


def _leave_out_when_saved(graph, scope: str, functions: set) -> None:
    """Leave the imported evaluation (the nodes under `scope/` and the library `functions`
    it brought) out of `graph`'s GraphDef wherever it is serialised.

    Estimator's CheckpointSaverHook (graph.pbtxt, the event file's graph), every
    `Saver.save()` (each checkpoint's .meta) and summary writers all take the GraphDef
    from `graph.as_graph_def()`: so the saved training graph is exactly the one a run
    without the hook saves, whatever the model's eval graph holds. (Before this, the
    imported eval ops added 24 % to a canned DNN's graph.pbtxt with the eval set fed once,
    and its whole eval set as constants before that.) The session runs the graph itself,
    not a serialised copy, so the evaluation still runs; a GraphDef taken to rebuild the
    training elsewhere (import_meta_graph) gets the training graph alone, which is all it
    can use: the evaluation's placeholders are fed by this hook only.
    """
    serialize = graph.as_graph_def  # the method, or a wrapper of another evaluation's
    prefix = f"{scope}/"

    def as_graph_def(*args, **kwargs):
        graph_def = serialize(*args, **kwargs)
        kept = [node for node in graph_def.node if not node.name.startswith(prefix)]
        del graph_def.node[:]
        graph_def.node.extend(kept)
        library = graph_def.library
        kept_functions = [f for f in library.function if f.signature.name not in functions]
        if len(kept_functions) != len(library.function):
            del library.function[:]
            library.function.extend(kept_functions)
        return graph_def

    graph.as_graph_def = as_graph_def


class _ImportedSession:
    """The training session as eval hooks see it: the graph elements they name (tensors,
    operations, variables or names of the eval graph, which their `begin()` saw) are
    translated to the imported ones under the import scope.

    `run_batch` runs one eval batch with the hooks' fetches and feeds through a callable
    cached per fetch structure: `session.run()` with a fetch structure costs about 0.3 ms
    of Python per call, a cached callable a fraction of that.
    """

    def __init__(self, session, eval_graph, scope: str, update_op):
        self._session, self._eval_graph, self._scope = session, eval_graph, scope
        self._train_graph = session.graph
        self._update_op = update_op
        self._callables: dict = {}

    @property
    def graph(self):
        return self._eval_graph  # the graph the hooks were built in

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        return self._session.run(
            self._translate(fetches),
            feed_dict=self._translate_feeds(feed_dict),
            options=options,
            run_metadata=run_metadata,
        )

    def run_batch(self, requests) -> tuple[list, object, object]:
        """The update op with each request's fetches and feeds: (each request's results
        (None where it fetched nothing), RunOptions, RunMetadata)."""
        fetched = [i for i, r in enumerate(requests) if r is not None and r.fetches is not None]
        feeds: dict = {}
        options = []
        for request in requests:
            if request is None:
                continue
            for key, value in (request.feed_dict or {}).items():
                if key in feeds:
                    raise RuntimeError(f"two eval hooks feed the same tensor {key}")
                feeds[key] = value
            if request.options is not None:
                options.append(request.options)
        results = [None] * len(requests)
        if options:  # rare (tracing): a plain run with the merged options
            merged, metadata = tf.compat.v1.RunOptions(), tf.compat.v1.RunMetadata()
            for option in options:
                merged.MergeFrom(option)
            values = self.run(
                [self._update_op, [requests[i].fetches for i in fetched]],
                feed_dict=feeds,
                options=merged,
                run_metadata=metadata,
            )[1]
        else:
            merged, metadata = None, None
            key = (
                tuple(_structure_key(requests[i].fetches) for i in fetched),
                tuple(_structure_key(k) for k in feeds),
            )
            run = self._callables.get(key)
            if run is None:
                run = _callable(
                    self._session,
                    [self._update_op, self._translate([requests[i].fetches for i in fetched])],
                    [self._element(k) for k in feeds],
                )
                if len(self._callables) < _MAX_CALLABLES:
                    self._callables[key] = run
            values = run(*feeds.values())[1]
        for i, value in zip(fetched, values):
            results[i] = value
        return results, merged, metadata

    def _translate(self, fetches):
        return tf.nest.map_structure(self._element, fetches)

    def _translate_feeds(self, feed_dict):
        return {self._element(k): v for k, v in (feed_dict or {}).items()}

    def _element(self, item):
        if isinstance(item, tf.compat.v1.SparseTensorValue):
            return item
        if isinstance(item, tf.SparseTensor):
            return tf.SparseTensor(
                *(self._element(t) for t in (item.indices, item.values, item.dense_shape))
            )
        element = self._eval_graph.as_graph_element(item)
        try:
            return self._train_graph.as_graph_element(f"{self._scope}/{element.name}")
        except (KeyError, ValueError) as error:
            raise ValueError(
                f"an eval hook uses {element.name} of the eval graph, which in-place "
                "evaluation does not run (a variable's initializer, or the eval input's own "
                "counting ops)"
            ) from error


def _structure_key(fetches):
    """A hashable key of a fetch structure, by the identity of its graph elements."""
    if isinstance(fetches, dict):
        return ("dict", *((k, _structure_key(v)) for k, v in fetches.items()))
    if isinstance(fetches, (list, tuple)):
        return (type(fetches), *map(_structure_key, fetches))
    return fetches if isinstance(fetches, str) else id(fetches)


class _CannotMap(Exception):
    """Why the eval graph cannot be mapped onto the training variables with certainty."""


def _in_place_plan(eval_graph: _EvalGraph, estimator) -> _Plan:
    """What to import, if the eval graph maps onto the training variables with certainty;
    else raises _CannotMap saying why not."""
    strategy = estimator.config.train_distribute
    if strategy is not None:
        raise _CannotMap(
            f"train_distribute={type(strategy).__name__} keeps a copy of each variable per replica"
        )
    if len(eval_graph.input_hooks) != 1:
        raise _CannotMap("the eval input_fn does not return one tf.data.Dataset")
    for eval_variable, train_variable in zip(eval_graph.eval_variables, eval_graph.train_variables):
        if tf_internals.is_partitioned(eval_variable) or tf_internals.is_partitioned(
            train_variable
        ):
            raise _CannotMap(f"{train_variable.op.name} is a partitioned variable")
        if eval_variable.op.type != "VarHandleOp" or train_variable.op.type != "VarHandleOp":
            raise _CannotMap(f"{train_variable.op.name} is not a resource variable")
    graph = eval_graph.graph
    iterator_init = tf_internals.dataset_initializer(eval_graph.input_hooks[0]).name
    update_op, reset = eval_graph.update_op.name, eval_graph.reset_metrics.name
    local_init = eval_graph.local_init.name
    at_evaluation = [update_op, reset, *(t.op.name for t in eval_graph.eval_dict.values())]
    whole = graph.as_graph_def()
    if eval_graph.other_hooks:
        # Eval hooks may fetch any element of the eval graph: import all of it but what
        # an evaluation must not run, the eval variables' initializers (they would
        # overwrite the training variables mapped onto them) and the input's counting ops.
        not_run = {v.initializer.name for v in eval_graph.eval_variables}
        not_run |= eval_graph.counting_ops
        consumed = {_node_name(i) for node in whole.node for i in node.input}
        at_evaluation += [
            node.name
            for node in whole.node
            if node.name not in consumed and node.name not in not_run | {local_init, iterator_init}
        ]
    graph_def = tf.compat.v1.graph_util.extract_sub_graph(
        whole, [*at_evaluation, local_init, iterator_init]
    )
    keys = tf.compat.v1.GraphKeys
    mapped = {v.op.name for v in eval_graph.eval_variables}
    own = {
        v.op.name
        for key in (keys.LOCAL_VARIABLES, keys.METRIC_VARIABLES)
        for v in graph.get_collection(key)
    }
    for node in graph_def.node:
        if node.op in _VARIABLE_OPS and node.name not in mapped | own:
            raise _CannotMap(
                f"the eval graph's variable {node.name} is in no variable collection, so it "
                "cannot be placed as model or evaluation state"
            )
        for source in node.input:
            name = _node_name(source)
            if name in mapped and not source.startswith("^") and node.op not in _READ_OPS:
                raise _CannotMap(
                    f"the eval graph's op {node.name} ({node.op}) may write the variable {name}"
                )
    fed = _feed_once(graph_def, at_evaluation, [local_init, iterator_init])
    nodes = {node.name: node for node in graph_def.node}
    local_feeds = sorted(_ancestors(nodes, [local_init]) & set(fed))
    iterator_feeds = sorted(_ancestors(nodes, [iterator_init]) & set(fed))
    _keep_used_functions(graph_def)
    return _Plan(
        graph_def, update_op, reset, local_init, iterator_init, fed, local_feeds, iterator_feeds
    )


def _keep_used_functions(graph_def) -> None:
    """Drop the library functions no node of `graph_def` calls, directly or not: the eval
    graph's library also holds what the model built for summaries, and the counting ops'
    reduce function, which the training graph need not carry."""
    functions = {f.signature.name: f for f in graph_def.library.function}
    used: set = set()
    stack = [name for node in graph_def.node for name in _called(node)]
    while stack:
        name = stack.pop()
        if name in functions and name not in used:
            used.add(name)
            stack.extend(n for node in functions[name].node_def for n in _called(node))
    kept = [f for f in graph_def.library.function if f.signature.name in used]
    gradients = [g for g in graph_def.library.gradient if g.function_name in used]
    del graph_def.library.function[:]
    del graph_def.library.gradient[:]
    graph_def.library.function.extend(kept)
    graph_def.library.gradient.extend(gradients)


def _called(node):
    """The names of the functions a NodeDef calls (its op, or a function-valued attr)."""
    yield node.op
    for value in node.attr.values():
        if value.HasField("func"):
            yield value.func.name
        yield from (f.name for f in value.list.func)


def _node_name(source: str) -> str:
    return source.lstrip("^").split(":")[0]


def _ancestors(nodes: dict, roots) -> set:
    """The names of `roots` and of every node they read, directly or not (control inputs
    included)."""
    seen: set = set()
    stack = [_node_name(root) for root in roots]
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(_node_name(source) for source in nodes[name].input)
    return seen


def _feed_once(graph_def, at_evaluation, at_start) -> dict:
    """Turn the large constants only the session-start ops read into placeholders, in
    place in `graph_def`; returns placeholder name -> the constant's value.

    A NumPy eval set given to `from_tensor_slices` is such a constant (the dataset op
    that holds it is read only by the iterator's initializer), and so is e.g. a
    vocabulary that only a lookup table's initializer reads.
    """
    nodes = {node.name: node for node in graph_def.node}
    read_at_evaluation = _ancestors(nodes, at_evaluation)
    fed = {}
    for name in sorted(_ancestors(nodes, at_start) - read_at_evaluation):
        node = nodes[name]
        if node.op != "Const" or node.attr["value"].tensor.ByteSize() < _FEED_ONCE_BYTES:
            continue
        value = tf.make_ndarray(node.attr["value"].tensor)
        dtype = node.attr["dtype"].type
        del node.attr["value"]
        node.op = "Placeholder"
        node.attr["shape"].shape.CopyFrom(tf.TensorShape(value.shape).as_proto())
        node.attr["dtype"].type = dtype
        fed[name] = value
    return fed


def _callable(session, fetches, feed_list):
    """session.make_callable, as fast as it goes when nothing is fed: TensorFlow turns a
    callable given any feed_list, even an empty one, into a session.run() per call (0.1 ms
    more per batch at 11k parameters)."""
    return session.make_callable(fetches, feed_list=feed_list or None)


def _acts_per_batch(hook) -> bool:
    base = tf.estimator.SessionRunHook
    return (
        type(hook).before_run is not base.before_run or type(hook).after_run is not base.after_run
    )


# Design note: why "in_place" is the default and "copy" the fallback.
#
# Two designs, both built from the same eval graph (what estimator.evaluate() builds):
#   in_place: the eval graph, pruned to what an evaluation runs, is imported into the
#     training graph in begin() with each eval variable's handle mapped onto the
#     training variable's own handle; it runs in the training session between two
#     training steps. Only reads of the training variables are allowed (any other use
#     of a mapped handle falls back); the evaluation's own resources (metric variables,
#     iterator, tables) get shared names under a scope of their own, and nothing is
#     added to the training graph's collections, so the Saver, the merged summary op, the
#     init/ready ops and the training loop never see the evaluation.
#   copy: the eval graph in its own session, kept open; each evaluation fetches the
#     training variables to the host once and assigns them in one grouped op.
#
# Measured with tests/benchmarks/evaluator.py (template repository; TF 2.15.1, 2 CPU
# cores, a quiet machine; every step evaluated, designs interleaved in 3 rounds; medians;
# own compute = a bare pass in the copy design's eval session right after each of its
# evaluations, weights in place and in cache). Per evaluation, ms:
#          in_place | copy = fetch + load + run   | stock | own compute
#   11k:   0.33     | 0.57 = 0.06 + 0.17 + 0.37   | 42    | 0.41
#   5M:    2.81     | 5.12 = 0.90 + 1.31 + 2.78   | 114   | 2.73
#   50M:   21.0     | 47.8 = 15.3 + 10.9 + 21.1   | 943   | 21.1
# in_place overhead (per evaluation minus own compute): 11k -0.08 ms (goal <= 0.5 ms; the
# pass in the training session was faster than the reference pass), 5M 0.03x, 50M
# -0.005x (goal <= 0.15x); in CPU time 5M 0.05x, 50M 0.01x. Charged to the whole loop
# (time per training step + evaluation minus time per step without a hook, which also
# counts the summary thread's work and any step the evaluation slows): 11k 0.62 ms
# (0.21 ms over own compute), 5M 3.32 ms (0.22x), 50M 20.7 ms (-0.02x); copy 1.21 ms,
# 7.98 ms, 68.5 ms. Two changes got the 5M figure from 0.16-0.20x to 0.03x: the summaries
# (flushing and syncing the event file, waiting for the file writer's thread, 0.26-0.33
# ms at 5M) moved to a thread of the hook's own, and the step read before an evaluation
# became a callable. On this local disk the whole loop costs the same with the summaries
# written on the training thread (5M: 12.2 ms per step + evaluation either way, in one
# A/B run): the thread keeps the disk's (or a remote model_dir's) latency off the
# training thread; it does not save work. 50M over 4 estimator.train calls in one
# process: in_place 21.1 / 21.9 / 24.7 / 21.0 ms, copy 50.2 / 50.1 / 51.4 / 53.2 ms.
# 1000 evaluations at 11k: in_place 0.42 -> 0.40 ms, copy 0.70 -> 0.48 ms (first -> last
# 10%); RSS over the second half -7.2 / 0.4 KB per evaluation (noise around the
# `history` entry each keeps; stock: 52 KB and 43 -> 78 ms). Ops added per evaluation:
# 0 for both (stock: 6). Training step time with either hook: within 0.5 ms of without
# one at 11k and 5M, +0.5 / +1.9 ms at 50M (85.5 ms steps).
# The parity suite (metrics equal estimator.evaluate() at every evaluated step for the
# canned DNN and a model_fn, identical summaries to TensorFlow's hook, schedule, resume,
# named evaluations, steps=) passes for both designs; with and without the hook the
# training checkpoint (names, shapes and values), the training summaries and the
# training graph's collections are identical (tests/test_inmemory_inplace.py).
#
# So in_place is the default: no copy at all (on a GPU, no device -> host -> device
# round trip), 1.7-2.3x faster per evaluation than copy. Copy stays for what in_place
# cannot map with certainty: train_distribute (per-replica variables), partitioned or
# non-resource variables, an eval op that uses a variable other than by reading it, a
# variable in no collection, or a graph that does not import. A cost of in_place, by
# design: the evaluated weights can only be read (Evaluation.weights()) while the
# callbacks run.
#
# In place at real scale (issue 18).
#
# Eval data out of the training graph: `python benchmarks/graph_size.py` (41 MB NumPy eval
# set, canned DNN [32, 16] on 64 features, 10 steps, a checkpoint every 5). Before, in
# place, graph.pbtxt grew 0.67 -> 113 MB and every .meta 0.25 -> 40 MB. Feeding the eval
# set's constants once, at iterator initialisation (placeholders, `_feed_once`), brought
# that to 0.83 / 0.31 MB: the imported eval ops themselves still added 24 % (48 KB of
# nodes, more than half of it names and inputs, plus 11 KB of library functions the eval
# graph built for summaries and the counting reduce). So the imported evaluation is also
# left out of the GraphDef as it is serialised (`_leave_out_when_saved`), and unused
# functions are not imported. Now graph.pbtxt and every .meta are the bytes of a run
# without the hook (ratio 1.000: graph.pbtxt 0.706 MB, each .meta 0.266 MB) for in place,
# in place with an eval hook, and copy. Shrinking what is imported instead (short node
# names, stripped attributes) got to +12 % and could not go under 10 % for deep models,
# whose forward pass is a fixed share of the training graph.
# tests/test_eval_data_in_place.py checks both sizes and parity (41 MB: marked slow).
#
# Eval hooks in place: their fetches and feeds are translated to the imported elements;
# each batch runs as one callable cached per fetch structure (at most 64), so an eval hook
# no longer sends the run to the copy design. With hooks the eval graph is imported whole
# (but the eval variables' initializers and the counting ops), since a hook may fetch any
# of its elements; its saved size is unchanged (left out as above).
#
# The whole loop charged: `python benchmarks/evaluator.py --only loop --sizes 5M
# --runs 7 --steps 800 --every 1 --rows none,in_place,in_place+hook,copy` (and `--sizes
# 50M --runs 5 --steps 100`): fresh trainings evaluating at every step, rows interleaved;
# the charge is the loop time from the 2nd step to the last minus the median no-hook
# run's, per evaluation in it, so it counts the evaluation, slower steps after it, the
# summary thread and the step fetch the hook adds; median over the runs, per-run min-max
# in brackets. Quiet machine, TF 2.15.1, 2 cores, 2026-12-07. Over the evaluation's own
# compute, (charge - own) / own, goal <= 0.15:
#            in_place               in_place + eval hook    copy                own compute
#   5M       -0.050 (-0.14..+0.41)  +0.039 (-0.03..+0.29)   +1.90 (+1.8..+2.3)  5.8 ms
#   50M      -0.077 (-0.14..-0.03)  +0.005 (-0.08..+0.05)   +2.91 (+2.9..+3.1)  46.5 ms
# At 5M, 200-step runs cannot resolve 0.15x: their no-hook windows spread by 160-970 ms,
# 0.8-4.9 ms per evaluation against 5.8 ms of own compute, and four invocations of
# `--runs 5 --steps 200` (one `--runs 15`) gave in_place +0.07 / +0.04 / +0.24 / +0.03
# and in_place + eval hook +0.24 / +0.00 / +0.24 / +0.13; 800-step runs average that out.
# With an eval hook each batch ran through session.run() until the cached callable was
# made with feed_list=None when no hook feeds (TensorFlow treats any feed_list, even an
# empty one, as feeds and delegates to run()): about 0.2 ms more per evaluation at 11k.
# Evaluating only every 4th of 40 steps leaves too few evaluations per window to resolve
# 0.15x: the no-hook windows alone spread by +-40 ms, 10 evaluations. Before the benchmark
# stopped charging its own instruments to the hook (after every evaluation it read
# /proc/self/statm, 0.39 ms, and listed every op of the training graph), the same runs
# gave in_place +0.21 and in_place + eval hook +0.23 at 5M. Steady across trainings:
# `python benchmarks/evaluator.py --only repeated --rows none,in_place,in_place+hook
# --steps 80`: four identical 50M trainings in one process, ms per evaluation window
# in_place 854.0 / 770.9 / 788.4 / 783.1 (max/min 1.108), with an eval hook 797.4 / 775.5
# / 792.6 / 795.6 (1.028); goal <= 1.25.
# Copy's charge is the weights' round trip (18 MB at 5M, 200 MB at 50M fetched and
# assigned per evaluation): it cannot meet 0.15x, and stays the logged fallback only for
# what in place cannot map with certainty (above). "Every evaluation design" of the issue
# is read as every path the hook takes for what TensorFlow's hook accepts: in place, with
# and without eval hooks; an eval input_fn that returns tensors is refused
# (EvalInputNotDatasetError: a one-shot iterator evaluated no batch after the first
# evaluation).
