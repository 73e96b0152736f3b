"""Training progress: one live bar on a terminal, plain log lines anywhere else.

`ProgressHook` shows step / max_steps, steps/s, the training loss, the ETA and the latest
monitored eval metric (it is one of the evaluator's `callbacks`). On a terminal that is one
rich progress bar, with log lines printed above it; off a terminal (Docker logs, CI, a
file) it logs one plain line every `log_every_steps` global steps.

Why rich rather than tqdm: rich also prints the config and the report's table, so one
library does all three; its bar is drawn by its own thread at a fixed rate, so the training
loop only hands it numbers; and it prints other output above a live bar, where tqdm needs
every writer to go through `tqdm.write`.

Overhead: the global step is counted here (each training step adds one), not fetched; the
loss is fetched only on the steps that show it: about twice a second on a terminal, once
per `log_every_steps` steps off it. Every line and every redraw shows the loss of the step
it reports: a redraw that falls due during a step whose loss was not fetched waits one
step for the next one's.
"""

from __future__ import annotations

import logging
import sys
import time

import tensorflow as tf

from .console import is_terminal

log = logging.getLogger(__name__)


class ProgressHook(tf.estimator.SessionRunHook):
    """Shows the training's progress; pass `on_evaluation` to the evaluator's callbacks.

    Args:
      max_steps: the global step training ends at.
      log_every_steps: off a terminal, log a line whenever the global step reaches a
        multiple of this.
      monitor: the eval metric to show (the latest value of the main evaluation).
      terminal: draw a live bar (True) or log lines (False); None: a bar when stdout is a
        terminal.
      refresh_secs: on a terminal, how often the loss is fetched and shown.
    """

    def __init__(
        self,
        max_steps: int,
        log_every_steps: int,
        monitor: str,
        *,
        terminal: bool | None = None,
        refresh_secs: float = 0.5,
    ):
        self.terminal = is_terminal() if terminal is None else terminal
        self._max_steps = max_steps
        self._log_every = log_every_steps
        self._monitor = monitor
        self._refresh_secs = refresh_secs
        self._eval_text = ""
        self._loss = None
        self._loss_wanted = False  # a redraw waits for the next step's loss
        self._step = 0
        self._bar = None
        self._redirected = []

    # The evaluator's callback

    def on_evaluation(self, evaluation) -> None:
        """Remember the monitored metric of the latest evaluation that has it."""
        value = evaluation.metrics.get(self._monitor)
        if value is not None:
            self._eval_text = f"{evaluation.label} {self._monitor}={value:.4g} @{evaluation.step}"
            if self._bar is not None:
                self._bar.update(self._task, eval=self._eval_text)

    # SessionRunHook

    def begin(self):
        self._global_step = tf.compat.v1.train.get_global_step()
        self._loss_tensor = _loss_tensor(tf.compat.v1.get_default_graph())

    def after_create_session(self, session, coord):
        self._step = int(session.run(self._global_step))
        self._start_step, self._start_time = self._step, time.monotonic()
        self._last_step, self._last_time = self._step, self._start_time
        self._next_show = self._start_time  # time (terminal) ...
        self._next_log = (self._step // self._log_every + 1) * self._log_every  # ... or step
        if self.terminal:
            self._start_bar()

    def before_run(self, run_context):
        if self._loss_tensor is None or not (self._loss_wanted or self._due(self._step + 1)):
            return None
        return tf.estimator.SessionRunArgs(self._loss_tensor)

    def after_run(self, run_context, run_values):
        self._step += 1  # each training step adds one to the global step
        if run_values.results is not None:
            self._loss, self._loss_wanted = float(run_values.results), False
        elif not self._due(self._step):
            return
        elif self._loss_tensor is not None:
            # Due, but this step's loss was not fetched: on a terminal the deadline passes
            # during a step more often than not. Redraw after the next step, with its loss,
            # rather than now with a stale one.
            self._loss_wanted = True
            return
        self._show()

    def end(self, session):
        self._step = int(session.run(self._global_step))
        if self.terminal:
            self._show()
            self._stop_bar()
        elif self._step != self._last_step:
            self._log_line()

    # Internals

    def _due(self, step: int) -> bool:
        if self.terminal:
            return time.monotonic() >= self._next_show
        return step >= self._next_log or step >= self._max_steps

    def _show(self) -> None:
        if self.terminal:
            self._next_show = time.monotonic() + self._refresh_secs
            loss = "-" if self._loss is None else f"{self._loss:.4g}"
            self._bar.update(self._task, completed=self._step, loss=loss)
        else:
            self._next_log = (self._step // self._log_every + 1) * self._log_every
            self._log_line()

    def _log_line(self) -> None:
        now = time.monotonic()
        rate = (self._step - self._last_step) / max(now - self._last_time, 1e-9)
        overall = (self._step - self._start_step) / max(now - self._start_time, 1e-9)
        remaining = max(self._max_steps - self._step, 0) / overall if overall > 0 else 0.0
        parts = [
            f"step {self._step}/{self._max_steps}",
            f"{rate:.1f} steps/s",
            f"loss={self._loss:.4g}" if self._loss is not None else "loss=-",
            f"eta {_clock(remaining)}",
        ]
        if self._eval_text:
            parts.append(self._eval_text)
        log.info(" | ".join(parts))
        self._last_step, self._last_time = self._step, now

    def _start_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("step"),
            MofNCompleteColumn(),
            BarColumn(),
            _steps_per_second_column(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[eval]}"),
            console=Console(),
            refresh_per_second=4,
        )
        self._task = self._bar.add_task(
            "train",
            total=self._max_steps,
            completed=self._step,
            loss="-",
            eval=self._eval_text,
        )
        self._bar.start()
        self._redirect_logging()

    def _stop_bar(self) -> None:
        if self._bar is not None:
            self._restore_logging()
            self._bar.stop()
            self._bar = None

    def _redirect_logging(self) -> None:
        """Send console log handlers through rich, so their lines print above the bar.

        Hydra's console handler keeps the real stdout; while the bar is live, rich has put
        a proxy in sys.stdout/sys.stderr that prints above the bar.
        """
        real = {id(sys.__stdout__): sys.stdout, id(sys.__stderr__): sys.stderr}
        for handler in logging.getLogger().handlers:
            stream = getattr(handler, "stream", None)
            if type(handler) is logging.StreamHandler and id(stream) in real:
                self._redirected.append((handler, handler.setStream(real[id(stream)])))

    def _restore_logging(self) -> None:
        for handler, stream in self._redirected:
            handler.setStream(stream)
        self._redirected.clear()


def _steps_per_second_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class StepsPerSecond(ProgressColumn):
        """rich's own speed estimate (over the last 30 s), in steps/s."""

        def render(self, task):
            return Text(f"{task.speed:.1f} steps/s" if task.speed else "- steps/s")

    return StepsPerSecond()


def _loss_tensor(graph):
    """The training loss: the tensor the Estimator summarises as `loss`, or None.

    Every Estimator adds a `loss` scalar summary of its EstimatorSpec's loss before the
    training hooks begin (unless the model_fn added its own, which is then that).
    """
    for summary in graph.get_collection(tf.compat.v1.GraphKeys.SUMMARIES):
        if summary.op.name == "loss" and len(summary.op.inputs) == 2:
            return summary.op.inputs[1]
    return None


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
