"""Everything estimator_inmemory raises on purpose.

Two kinds, never mixed up:
- `EstimatorInMemoryError` and its subclasses: an expected error, raised before anything
  is trained or written where the cause can be known then. The message names the cause and
  the way out; an entry point prints it as one line (`error: ...`) and exits 2. The
  refusals of in-memory evaluation (`UnsupportedSetupError`, a `ValueError` as TensorFlow's
  own hook raises) are among them: each subclass names one cause.
- `EvaluationFailedError` (a `RuntimeError`): an evaluation that was started and failed
  during training; the message names the global step. A bug, or a broken input: it keeps
  its traceback.
"""


class EstimatorInMemoryError(Exception):
    """An expected error: its message names the cause and the way out."""


class ConfigError(EstimatorInMemoryError, ValueError):
    """A config value that training cannot use."""


class UnknownKeyError(ConfigError):
    """A config key that no part of the project reads (a typo, or `+group.key=` for a new one)."""


class UnknownMonitorError(ConfigError):
    """evaluator.monitor names a metric the model's evaluation does not produce."""


class DataError(EstimatorInMemoryError, ValueError):
    """The data cannot be read or used as configured."""


class RuntimeRequirementError(EstimatorInMemoryError):
    """The machine lacks what the config requires (e.g. runtime.require_gpu)."""


class UnsupportedClusterError(EstimatorInMemoryError, ValueError):
    """TF_CONFIG describes a cluster that Estimator cannot run (or is malformed)."""


class UnknownTaskTypeError(UnsupportedClusterError):
    """TF_CONFIG's cluster has a job Estimator does not run (not chief, master, worker, ps,
    evaluator)."""


class SeveralChiefsError(UnsupportedClusterError):
    """More than one chief: several 'chief' tasks, several 'master' tasks, or both kinds."""


class NoChiefError(UnsupportedClusterError):
    """A cluster of workers or ps tasks with no 'chief' or 'master' to initialise and save."""


class NoParameterServerError(UnsupportedClusterError):
    """Workers besides the chief, but no 'ps' task to hold the variables they share."""


class SeveralEvaluatorsError(UnsupportedClusterError):
    """More than one evaluator task (train_and_evaluate runs exactly one, index 0)."""


class MasterWithEvaluatorError(UnsupportedClusterError):
    """A legacy 'master' with an evaluator task: Estimator's master evaluates itself."""


class SparseClusterError(UnsupportedClusterError):
    """TF_CONFIG has 'sparseCluster' (Kubeflow's enableDynamicWorker) instead of 'cluster'."""


class TaskNotInClusterError(UnsupportedClusterError):
    """TF_CONFIG's task is missing, or names a task its cluster does not have."""


class JobSetEnvironmentError(UnsupportedClusterError):
    """The JobSet environment TF_CONFIG is built from is missing or inconsistent."""


class ChiefNotStartedError(EstimatorInMemoryError, RuntimeError):
    """A worker found no checkpoint of the chief's in model_dir in time."""


class ResumeMismatchError(EstimatorInMemoryError, ValueError):
    """model_dir holds a checkpoint of another model than the one the config builds."""


class UnsupportedSetupError(EstimatorInMemoryError, ValueError):
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


class EvalInputNotDatasetError(UnsupportedSetupError):
    """An eval input_fn that returns tensors, which an evaluation kept open cannot restart."""


class InPlaceUnsupportedError(UnsupportedSetupError):
    """design="in_place" was forced on a setup whose weights cannot be mapped with certainty."""


class EvaluationFailedError(RuntimeError):
    """An evaluation failed during training; the message names the global step."""


class PaintingFailedError(RuntimeError):
    """The painting process could not draw the picture (its last error line says why)."""
