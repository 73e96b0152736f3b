"""estimator_inmemory: in-memory evaluation for TensorFlow Estimator, and the training kit
around it (best model and early stopping, checkpoint evaluation on a cluster, run records,
pictures, progress).

The public API, importable from here (TensorFlow, Hydra, rich and matplotlib are imported
only by the parts that need them, when first used):

- in-memory evaluation: `InMemoryEvaluatorHook` (a drop-in for
  `tf.estimator.experimental.InMemoryEvaluatorHook`), the `Evaluation` its callbacks receive;
- its guards: `check_schedule`, `check_tf_config`, `check_runtime`, and the errors
  (`UnsupportedSetupError` and one subclass per refused setup, `EvaluationFailedError`, ...);
- best tracking and early stopping: `Monitor`, `BestTracker`, `BestKeeper`;
- checkpoint evaluation: `CheckpointEvaluationExporter`; the cluster: `ClusterTask`,
  `check_cluster_config`, `Launcher`, `tf_config_from_jobset`;
- data and serving: `Dataset`, `load_csv`, `train_input_fn`, `eval_input_fn`,
  `feature_columns`, `export_saved_model`;
- projects: `Registry`, `Project`, `train`;
- runs: `read_evaluations`, `best_record`, `ProgressHook`, `Painter`,
  `write_learning_curves`, `write_comparison`.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

from .errors import (
    ChiefNotStartedError,
    ConfigError,
    CustomInitFnError,
    CustomSaverError,
    DataError,
    EndlessEvalDataError,
    EstimatorInMemoryError,
    EvalInputNotDatasetError,
    EvaluationFailedError,
    InPlaceUnsupportedError,
    MalformedTFConfigError,
    MultiNodeError,
    PaintingFailedError,
    ResumeMismatchError,
    RuntimeRequirementError,
    SaveableObjectsError,
    ScheduleError,
    UnknownKeyError,
    UnknownMonitorError,
    UnmatchedVariablesError,
    UnsupportedClusterError,
    UnsupportedDistributionError,
    UnsupportedRuntimeError,
    UnsupportedSetupError,
)

try:
    __version__ = version("estimator-inmemory")
except PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "unknown"

# name -> module that defines it, imported on first use.
_LAZY = {
    "InMemoryEvaluatorHook": "hook",
    "Evaluation": "hook",
    "check_schedule": "guards",
    "check_tf_config": "guards",
    "check_runtime": "guards",
    "Monitor": "best",
    "BestTracker": "best",
    "BestKeeper": "best",
    "CheckpointEvaluationExporter": "checkpoint",
    "ClusterTask": "cluster",
    "check_cluster_config": "cluster",
    "Launcher": "cluster",
    "tf_config_from_jobset": "cluster",
    "Dataset": "data",
    "load_csv": "data",
    "train_input_fn": "data",
    "eval_input_fn": "data",
    "feature_columns": "data",
    "export_saved_model": "serving",
    "Registry": "registry",
    "Project": "app",
    "train": "training",
    "read_evaluations": "records",
    "best_record": "records",
    "ProgressHook": "progress",
    "Painter": "plots",
    "write_learning_curves": "plots",
    "write_comparison": "plots",
}

__all__ = [
    "BestKeeper",
    "BestTracker",
    "CheckpointEvaluationExporter",
    "ChiefNotStartedError",
    "ClusterTask",
    "ConfigError",
    "CustomInitFnError",
    "CustomSaverError",
    "DataError",
    "Dataset",
    "EndlessEvalDataError",
    "EstimatorInMemoryError",
    "EvalInputNotDatasetError",
    "Evaluation",
    "EvaluationFailedError",
    "InMemoryEvaluatorHook",
    "InPlaceUnsupportedError",
    "Launcher",
    "MalformedTFConfigError",
    "Monitor",
    "MultiNodeError",
    "Painter",
    "PaintingFailedError",
    "ProgressHook",
    "Project",
    "Registry",
    "ResumeMismatchError",
    "RuntimeRequirementError",
    "SaveableObjectsError",
    "ScheduleError",
    "UnknownKeyError",
    "UnknownMonitorError",
    "UnmatchedVariablesError",
    "UnsupportedClusterError",
    "UnsupportedDistributionError",
    "UnsupportedRuntimeError",
    "UnsupportedSetupError",
    "__version__",
    "best_record",
    "check_cluster_config",
    "check_runtime",
    "check_schedule",
    "check_tf_config",
    "eval_input_fn",
    "export_saved_model",
    "feature_columns",
    "load_csv",
    "read_evaluations",
    "train",
    "train_input_fn",
    "write_comparison",
    "write_learning_curves",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
