"""Progress: a live bar on a terminal, steady log lines off it, the config once, no TF noise."""

import math
import os
import pty
import re
import select
import subprocess
import sys

from helpers import PACKAGE, compose_train, run_entry_point

from {{ cookiecutter.package_name }}.data import load_dataset, train_input_fn
from {{ cookiecutter.package_name }}.model import build_estimator
from {{ cookiecutter.package_name }}.progress import ProgressHook

LOG_LINE = re.compile(
    r"step (\d+)/(\d+) \| ([\d.]+) steps/s \| loss=(\S+) \| eta (\d+:\d\d:\d\d)"
    r"(?: \| eval accuracy=([\d.]+) @(\d+))?"
)
EVAL_LINE = re.compile(r"eval step (\d+): accuracy=([\d.]+)")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
RUN = ["trainer.max_steps=200", "evaluator.every_n_iter=100", "trainer.export=none"]


class CountingProgressHook(ProgressHook):
    """Records the steps whose training run also fetched the loss."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fetched_at = []

    def before_run(self, run_context):
        fetches = super().before_run(run_context)
        if fetches is not None:
            self.fetched_at.append(self._step + 1)
        return fetches


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
    code = f"import sys; from {PACKAGE}.console import is_terminal; "
    probe = [sys.executable, "-c", code + "print(is_terminal(), 'rich' in sys.modules)"]
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    piped = subprocess.run(probe, env=env, capture_output=True, text=True, check=True)
    assert piped.stdout.split() == ["False", "False"]
    forced = subprocess.run(
        probe, env={**env, "FORCE_COLOR": "1"}, capture_output=True, text=True, check=True
    )
    assert forced.stdout.split() == ["True", "True"]


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


def test_on_a_terminal_one_live_bar(tmp_path):
    """The real entry point under a pseudo-terminal, as a person starts it."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", f"{PACKAGE}.train", *RUN, f"hydra.run.dir={tmp_path}"],
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
    screen = ANSI.sub("", b"".join(chunks).decode(errors="replace"))
    assert "200/200" in screen and "steps/s" in screen and "eta" in screen
    assert re.search(r"loss \d", screen)
    assert re.search(r"eval accuracy=[\d.]+ @200", screen)
    assert not LOG_LINE.search(screen)  # the bar, not log lines
    assert EVAL_LINE.search(screen)  # other log lines still show, above the bar


def test_the_loss_is_fetched_only_when_shown(tmp_path):
    cfg = compose_train("trainer.max_steps=200")
    data = load_dataset(cfg.data)
    inputs = train_input_fn(data, cfg.trainer.batch_size, cfg.trainer.seed)

    logging_hook = CountingProgressHook(200, 50, "accuracy", terminal=False)
    estimator = build_estimator(cfg.model, cfg.trainer, data, str(tmp_path / "log"))
    estimator.train(inputs, max_steps=200, hooks=[logging_hook])
    assert logging_hook.fetched_at == [50, 100, 150, 200]

    # On a terminal the bar shows the loss every refresh_secs: here once, at the first step.
    bar_hook = CountingProgressHook(200, 50, "accuracy", terminal=True, refresh_secs=3600)
    estimator = build_estimator(cfg.model, cfg.trainer, data, str(tmp_path / "bar"))
    estimator.train(inputs, max_steps=200, hooks=[bar_hook])
    assert bar_hook.fetched_at == [1]
