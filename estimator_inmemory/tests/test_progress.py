"""Progress: a live bar on a terminal, steady log lines off it, the config once, no TF noise."""

import math
import os
import pty
import re
import select
import subprocess
import sys

import pytest

from estimator_inmemory.config import settings
from estimator_inmemory.data import train_input_fn
from estimator_inmemory.progress import ProgressHook
from estimator_inmemory.training import build_estimator
from helpers import PACKAGE, compose_train, project, run_entry_point, subprocess_env

LOG_LINE = re.compile(
    r"step (\d+)/(\d+) \| ([\d.]+) steps/s \| loss=(\S+) \| eta (\d+:\d\d:\d\d)"
    r"(?: \| eval accuracy=([\d.]+) @(\d+))?"
)
EVAL_LINE = re.compile(r"eval step (\d+): accuracy=([\d.]+)")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
BAR_LOSS = re.compile(r"loss (\d+\.?\d*(?:e[-+]\d+)?)")
RUN = ["trainer.max_steps=200", "evaluator.every_n_iter=100", "trainer.export=none"]
# On the terminal: long enough for several redraws (twice a second) as the loss falls.
TERMINAL_RUN = ["trainer.max_steps=3000", "evaluator.every_n_iter=1000", "trainer.export=none"]


class CountingProgressHook(ProgressHook):
    """Records the steps whose training run also fetched the loss, and what each redraw or
    log line showed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fetched_at = []
        self.fetched = {}  # step -> the loss fetched with that step
        self.shown = []  # (step, loss) of each redraw or log line

    def before_run(self, run_context):
        fetches = super().before_run(run_context)
        if fetches is not None:
            self.fetched_at.append(self._step + 1)
        return fetches

    def after_run(self, run_context, run_values):
        if run_values.results is not None:
            self.fetched[self._step + 1] = float(run_values.results)
        super().after_run(run_context, run_values)

    def _show(self):
        self.shown.append((self._step, self._loss))
        super()._show()


def estimator_and_input(cfg, model_dir):
    from fixture_project.data import DATASETS

    s = settings(cfg)
    data = DATASETS[s.data.name](s.data)
    estimator = build_estimator(s.model, s.trainer, data, str(model_dir), project.models)
    return estimator, train_input_fn(data, s.trainer.batch_size, s.trainer.seed)


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_off_a_terminal_one_line_every_log_step_count_steps(tmp_path):
    result = run_entry_point(*RUN, "trainer.log_step_count_steps=50", f"hydra.run.dir={tmp_path}")
    output = result.stdout + result.stderr
    lines = LOG_LINE.findall(output)
    assert [int(step) for step, *_ in lines] == [50, 100, 150, 200]
    assert all(int(total) == 200 for _, total, *_ in lines)
    assert all(float(rate) > 0 and math.isfinite(float(loss)) for _, _, rate, loss, *_ in lines)
    assert lines[-1][4] == "0:00:00"  # nothing left at the end
    # The monitored metric shown is the latest evaluation's, at its step.
    evaluated = {int(step): accuracy for step, accuracy in EVAL_LINE.findall(output)}
    for step, _, _, _, _, accuracy, eval_step in lines:
        latest = max(s for s in evaluated if s <= int(step))
        assert (int(eval_step), accuracy[:5]) == (latest, evaluated[latest][:5])


def test_rich_decides_what_a_terminal_is_only_where_it_could_be_one():
    # Off a terminal rich is not even imported (~50 ms a run does not need); rich's own
    # FORCE_COLOR still makes it draw for a terminal, as rich documents.
    code = "import sys; from estimator_inmemory.console import is_terminal; "
    probe = [sys.executable, "-c", code + "print(is_terminal(), 'rich' in sys.modules)"]
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    piped = subprocess.run(probe, env=env, capture_output=True, text=True, check=True)
    assert piped.stdout.split() == ["False", "False"]
    forced = subprocess.run(
        probe, env={**env, "FORCE_COLOR": "1"}, capture_output=True, text=True, check=True
    )
    assert forced.stdout.split() == ["True", "True"]


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_the_config_is_printed_once_and_tensorflow_stays_quiet(tmp_path):
    result = run_entry_point(*RUN, f"hydra.run.dir={tmp_path}")
    output = result.stdout + result.stderr
    assert result.stdout.count("max_steps: 200") == 1
    assert "learning_rate: 0.05" in result.stdout
    noise = [
        line
        for line in output.splitlines()
        if re.search(r"WARNING|deprecat|oneDNN|cpu_feature_guard|absl::", line, re.IGNORECASE)
    ]
    assert not noise, noise


@pytest.fixture(scope="module")
def terminal_screen(tmp_path_factory):
    """The real entry point under a pseudo-terminal, as a person starts it: what it drew."""
    run_dir = tmp_path_factory.mktemp("terminal") / "run"
    controller, terminal = pty.openpty()
    env = subprocess_env({**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"})
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", f"{PACKAGE}.train", *TERMINAL_RUN, f"hydra.run.dir={run_dir}"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
    )
    os.close(terminal)
    chunks = []
    while True:  # read until the process closes its end of the terminal
        ready, _, _ = select.select([controller], [], [], 600)
        assert ready, "no output for 600 s"
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the child is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert process.wait(timeout=60) == 0
    return ANSI.sub("", b"".join(chunks).decode(errors="replace"))


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_on_a_terminal_one_live_bar(terminal_screen):
    screen = terminal_screen
    assert "3000/3000" in screen and "steps/s" in screen and "eta" in screen
    assert re.search(r"loss \d", screen)
    assert re.search(r"eval accuracy=[\d.]+ @3000", screen)
    assert not LOG_LINE.search(screen)  # the bar, not log lines
    assert EVAL_LINE.search(screen)  # other log lines still show, above the bar


@pytest.mark.slow  # a real entry-point process (it imports TensorFlow): TF-version independent
def test_the_bar_shows_the_current_loss_at_each_redraw(terminal_screen):
    # Once the bar showed the first step's loss (about 2.3) for the whole run.
    shown = [float(loss) for loss in BAR_LOSS.findall(terminal_screen)]
    assert len(set(shown)) >= 3, shown  # the loss changed between redraws
    assert shown[0] > 1.5  # the first step's loss: ten classes, about log(10)
    assert shown[-1] < shown[0] / 3  # what the trained model has come down to


def test_the_loss_is_fetched_only_when_shown(tmp_path):
    cfg = compose_train("trainer.max_steps=200")
    logging_hook = CountingProgressHook(200, 50, "accuracy", terminal=False)
    estimator, inputs = estimator_and_input(cfg, tmp_path / "log")
    estimator.train(inputs, max_steps=200, hooks=[logging_hook])
    assert logging_hook.fetched_at == [50, 100, 150, 200]

    # On a terminal the bar shows the loss every refresh_secs: here once, at the first step.
    bar_hook = CountingProgressHook(200, 50, "accuracy", terminal=True, refresh_secs=3600)
    estimator, inputs = estimator_and_input(cfg, tmp_path / "bar")
    estimator.train(inputs, max_steps=200, hooks=[bar_hook])
    assert bar_hook.fetched_at == [1]


def test_each_redraw_shows_the_loss_of_the_step_it_shows(tmp_path):
    # The redraw deadline passes during a step more often than not: the redraw then waits
    # for the next step's loss instead of showing the one fetched a redraw ago.
    cfg = compose_train("trainer.max_steps=400")
    hook = CountingProgressHook(400, 100, "accuracy", terminal=True, refresh_secs=0.02)
    estimator, inputs = estimator_and_input(cfg, tmp_path)
    estimator.train(inputs, max_steps=400, hooks=[hook])
    redraws = hook.shown[:-1]  # the last is end()'s, at the final step
    assert len(redraws) >= 3, hook.shown
    for step, loss in redraws:
        assert loss == hook.fetched.get(step), (step, loss, sorted(hook.fetched))
    assert len(hook.fetched_at) <= len(redraws) + 1  # fetched for a redraw, not every step
