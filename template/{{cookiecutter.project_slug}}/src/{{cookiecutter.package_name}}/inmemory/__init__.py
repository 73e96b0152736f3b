"""In-memory evaluation for Estimator training: library code, not meant to be edited.

The public surface, all importable from here:
- `InMemoryEvaluatorHook` and the `Evaluation` its callbacks receive (`hook.py`);
- `preflight()`, the model-graph checks to run before `estimator.train()` touches
  `model_dir` (with `resume_from=`, also that the checkpoint fits the model), and `check_schedule()` / `check_tf_config()`, the checks that need no
  TensorFlow (`guards.py`);
- the errors (`errors.py`): `UnsupportedSetupError` and its subclasses (refusals before
  training) and `EvaluationFailedError` (a failure during training).

Every private TensorFlow/Estimator call lives in `tf_internals.py`. Importing this package
does not import TensorFlow; the hook does, when first asked for.
"""

from .errors import (
    CustomInitFnError,
    CustomSaverError,
    EndlessEvalDataError,
    EvaluationFailedError,
    InPlaceUnsupportedError,
    MalformedTFConfigError,
    MultiNodeError,
    ResumeMismatchError,
    SaveableObjectsError,
    ScheduleError,
    UnmatchedVariablesError,
    UnsupportedDistributionError,
    UnsupportedRuntimeError,
    UnsupportedSetupError,
)
from .guards import (
    check_checkpoint_fits,
    check_runtime,
    check_schedule,
    check_tf_config,
    preflight,
)

__all__ = [
    "CustomInitFnError",
    "CustomSaverError",
    "EndlessEvalDataError",
    "Evaluation",
    "EvaluationFailedError",
    "InMemoryEvaluatorHook",
    "InPlaceUnsupportedError",
    "MalformedTFConfigError",
    "MultiNodeError",
    "ResumeMismatchError",
    "SaveableObjectsError",
    "ScheduleError",
    "UnmatchedVariablesError",
    "UnsupportedDistributionError",
    "UnsupportedRuntimeError",
    "UnsupportedSetupError",
    "check_checkpoint_fits",
    "check_runtime",
    "check_schedule",
    "check_tf_config",
    "preflight",
]


def __getattr__(name: str):
    # The hook needs TensorFlow: import it only when it is asked for, so that config
    # errors answer before TensorFlow's start-up.
    if name in ("InMemoryEvaluatorHook", "Evaluation"):
        from . import hook

        return getattr(hook, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
