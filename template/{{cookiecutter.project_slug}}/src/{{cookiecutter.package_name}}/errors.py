"""The project's expected errors: one base class, so the entry point can tell them apart.

`train.main` prints a `ProjectError` as one line on stderr and exits 2; anything else is a
bug and keeps its traceback.
"""


class ProjectError(Exception):
    """An expected error: its message names the cause and the way out."""


class ConfigError(ProjectError, ValueError):
    """A composed config value that training cannot use."""


class DataError(ProjectError, ValueError):
    """The data cannot be read or used as configured."""


class RuntimeRequirementError(ProjectError):
    """The machine lacks what the config requires (e.g. runtime.require_gpu)."""


class UnsupportedClusterError(ProjectError, ValueError):
    """TF_CONFIG describes a cluster evaluator=checkpoint cannot run (or is malformed)."""
