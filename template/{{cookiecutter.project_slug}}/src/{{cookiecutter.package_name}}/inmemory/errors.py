"""What the in-memory evaluator raises.

Two kinds, never mixed up:
- `UnsupportedSetupError` (a `ValueError`, as TensorFlow's own hook raises): a refusal,
  before any training session exists, of a setup in-memory evaluation cannot evaluate
  correctly. Each subclass names one cause; the message says what was found and the way
  out. Nothing has been trained or written when one is raised.
- `EvaluationFailedError` (a `RuntimeError`): an evaluation that was started and failed
  during training; the message names the global step.
"""

from ..errors import ProjectError


class UnsupportedSetupError(ProjectError, ValueError):
    """Refused before training: this setup cannot be evaluated in memory."""


class MalformedTFConfigError(UnsupportedSetupError):
    """TF_CONFIG is not JSON, or not shaped like {"cluster": ..., "task": ...}."""


class MultiNodeError(UnsupportedSetupError):
    """TF_CONFIG or the RunConfig describes more than one machine."""


class UnsupportedDistributionError(UnsupportedSetupError):
    """eval_distribute, or a train_distribute strategy that spans machines."""


class SaveableObjectsError(UnsupportedSetupError):
    """Model state that is not a variable (e.g. a MutableHashTable)."""


class CustomSaverError(UnsupportedSetupError):
    """A Saver in EVAL mode (Scaffold(saver=...) or GraphKeys.SAVERS, e.g. EMA restores)."""


class CustomInitFnError(UnsupportedSetupError):
    """Scaffold(init_fn=...) in EVAL mode: custom initialisation the copy cannot run."""


class UnmatchedVariablesError(UnsupportedSetupError):
    """Eval variables with no training twin of the same name, dtype and shape."""


class UnsupportedRuntimeError(UnsupportedSetupError):
    """TensorFlow outside the supported versions, Estimator missing, or Keras 3."""


class ScheduleError(UnsupportedSetupError):
    """every_n_iter, every_n_secs or steps that cannot schedule an evaluation."""


class EndlessEvalDataError(UnsupportedSetupError):
    """An eval dataset that never ends, so an evaluation would never end."""


class ResumeMismatchError(ProjectError, ValueError):
    """model_dir holds a checkpoint of another model than the one the config builds."""


class InPlaceUnsupportedError(UnsupportedSetupError):
    """design="in_place" was forced on a setup whose weights cannot be mapped with certainty."""


class EvaluationFailedError(RuntimeError):
    """An evaluation failed during training; the message names the global step."""
