"""What a person sees in the console: the composed config, and no TensorFlow noise.

No TensorFlow import here: `main` calls these before the config is checked.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the hydra extra: the pictures and the live bar work without it
    from omegaconf import DictConfig


def quiet_tensorflow() -> None:
    """Keep TensorFlow's start-up and deprecation chatter out of the console.

    Must run before TensorFlow is imported: its C++ log level is read at import.
    Errors still show.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++: no INFO/WARNING start-up lines
    # Python side: the Estimator code is one long deprecation warning, through TF's logger
    # (a child of absl's handler) and through the warnings module.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    # Reading event files for the pictures: notes about graph events nobody asked about.
    logging.getLogger("tensorboard").setLevel(logging.ERROR)
    for module in ("tensorflow", "tensorflow_estimator", "keras", "absl"):
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
        warnings.filterwarnings("ignore", category=UserWarning, module=module)


def is_terminal() -> bool:
    """Whether rich takes stdout for a terminal (live bar, colours): rich decides, where
    stdout is a terminal or rich's FORCE_COLOR / TTY_COMPATIBLE say what it is.

    Anywhere else (Docker logs, CI, a file) it is plainly not one, and the run does not
    import rich at all: about 50 ms a run off a terminal never needs.
    """
    told = "FORCE_COLOR" in os.environ or "TTY_COMPATIBLE" in os.environ
    if not told and not sys.stdout.isatty():
        return False
    from rich.console import Console

    return Console().is_terminal


def no_colour_off_a_terminal() -> None:
    """Off a terminal, ask every library for plain text: `NO_COLOR` (no-color.org).

    Log lines in a file or in Docker's logs must not carry ANSI colour codes, whichever
    library writes them: Optuna's (colorlog, which colours by default), rich's, and the
    child processes' (they inherit the variable). On a terminal, or where FORCE_COLOR
    asks for colours, nothing changes.
    """
    if not is_terminal():
        os.environ.setdefault("NO_COLOR", "1")


def print_config(cfg: DictConfig) -> None:
    """Print the composed config once, as YAML (highlighted on a terminal)."""
    from omegaconf import OmegaConf

    # Unresolved, like `--cfg job`: printing must not fail on a value the checks reject.
    text = OmegaConf.to_yaml(cfg).rstrip()
    if is_terminal():
        from rich.console import Console
        from rich.syntax import Syntax

        syntax = Syntax(text, "yaml", background_color="default", word_wrap=True)
        Console(highlight=False).print(syntax)
    else:  # a log file gets the plain text, never cut to a guessed width
        print(text, flush=True)
