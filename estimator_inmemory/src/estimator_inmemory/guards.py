"""Refuse, before training starts, what in-memory evaluation cannot evaluate correctly.

In-memory evaluation gives the eval graph the training variables, by name (mapped onto
them in place, or copied into a separate eval session). That is only the model
`estimator.evaluate()` would see when training runs in one process, every piece of model
state is a variable, and evaluation restores nothing but those variables. Each check
below raises a subclass of `UnsupportedSetupError` (a `ValueError`) saying what it found,
why it cannot be evaluated in memory, and what to do instead. Nothing here starts a
session or touches `model_dir`.
"""

from __future__ import annotations

import json
import numbers

from .errors import (
    CustomInitFnError,
    CustomSaverError,
    MalformedTFConfigError,
    MultiNodeError,
    ResumeMismatchError,
    SaveableObjectsError,
    ScheduleError,
    SparseClusterError,
    UnmatchedVariablesError,
    UnsupportedDistributionError,
    UnsupportedRuntimeError,
)

# The TensorFlow versions estimator_inmemory runs on: Estimator ends at 2.15 (its
# tensorflow-estimator 2.15.0 fails to import on TF 2.16+). The template's TF table
# must list exactly these (its tests/test_bake.py checks).
SUPPORTED_TF = ("2.12", "2.13", "2.14", "2.15")
# train_distribute strategies under which in-memory evaluation reads the right weights
# (by experiment: see tests/test_guards.py).
SINGLE_MACHINE_STRATEGIES = {
    "MirroredStrategy",
    "MirroredStrategyV1",
    "OneDeviceStrategy",
    "OneDeviceStrategyV1",
    "CentralStorageStrategy",
    "CentralStorageStrategyV1",
}
CHECKPOINT_EVALUATION = (
    "evaluate from checkpoints instead: train with evaluator=checkpoint "
    "(tf.estimator.train_and_evaluate; on one machine a project's <slug>-cluster "
    "--workers N --ps M runs the tasks), or call estimator.evaluate() on the saved "
    "checkpoints"
)


# Configuration: pure checks, no TensorFlow needed.


def check_schedule(every_n_iter, every_n_secs=None, steps=None, *, prefix="") -> None:
    """The one rule for an evaluation schedule (the hook's constructor and the config check).

    every_n_iter and steps: positive integers or None; every_n_secs: a positive number or
    None; at least one of every_n_iter and every_n_secs. `prefix` is put before each
    name in the message (e.g. "evaluator.").
    """
    for name, value in (("every_n_iter", every_n_iter), ("steps", steps)):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0
        ):
            raise ScheduleError(f"{prefix}{name} must be a positive integer or None, got {value!r}")
    if every_n_secs is not None and (
        isinstance(every_n_secs, bool)
        or not isinstance(every_n_secs, numbers.Real)
        or not every_n_secs > 0
    ):
        raise ScheduleError(
            f"{prefix}every_n_secs must be a positive number or None, got {every_n_secs!r}"
        )
    if every_n_iter is None and every_n_secs is None:
        raise ScheduleError(
            f"{prefix}every_n_iter and {prefix}every_n_secs are both None, so nothing would "
            "schedule an evaluation: give at least one"
        )


def parse_tf_config(tf_config: str | None) -> tuple[dict, dict | None]:
    """TF_CONFIG's (cluster, task), checked for shape only; ({}, None) when it is unset.

    The one reading of TF_CONFIG: in-memory evaluation (below) and evaluator=checkpoint
    (`cluster.check_cluster_config`) each judge the layout it describes. Keys other than
    'cluster' and 'task' are the scheduler's own and are ignored ('environment' from
    Kubeflow and SageMaker; 'job' from AI Platform and Vertex AI; in the task, 'trial' and
    'cloud'). The task's index may be an int or a string of one ("0"); the task comes back
    with an int. Raises `SparseClusterError` for Kubeflow's 'sparseCluster'
    (enableDynamicWorker), which Estimator cannot read.
    """
    if not tf_config:
        return {}, None
    try:
        config = json.loads(tf_config)
    except json.JSONDecodeError as error:
        raise MalformedTFConfigError(
            f"TF_CONFIG is not JSON ({error}): fix it, or unset it to train on this machine"
        ) from None
    return _cluster_and_task(config)


def check_tf_config(tf_config: str | None) -> None:
    """Accept no TF_CONFIG, or a cluster of exactly one chief or one worker and nothing else."""
    try:
        cluster, task = parse_tf_config(tf_config)
    except SparseClusterError:
        raise MultiNodeError(
            "TF_CONFIG describes a multi-node cluster ('sparseCluster', Kubeflow's "
            f"enableDynamicWorker): {CHECKPOINT_EVALUATION}; or unset TF_CONFIG to train on "
            "one machine"
        ) from None
    if not cluster:
        return
    training = {t: len(cluster.get(t, [])) for t in ("chief", "master", "worker")}
    others = {t: len(hosts) for t, hosts in cluster.items() if t not in training}
    found = ", ".join(f"{n} {t}" for t, n in {**training, **others}.items() if n)
    if sum(training.values()) > 1 or others:
        raise MultiNodeError(
            f"TF_CONFIG describes a multi-node cluster ({found}). In-memory evaluation copies "
            f"variables inside one process, so on a cluster it would evaluate one replica's "
            f"view of weights that live on parameter servers or other workers: "
            f"{CHECKPOINT_EVALUATION}; or unset TF_CONFIG to train on one machine"
        )
    if task is None:
        return
    task_type, index = task["type"], task["index"]
    if task_type == "evaluator":
        raise MultiNodeError(
            "TF_CONFIG makes this process an 'evaluator' task, which evaluates the checkpoints "
            "another process trains; in-memory evaluation runs inside the training process: "
            f"{CHECKPOINT_EVALUATION}; or unset TF_CONFIG to train here"
        )
    if task_type not in cluster or not (0 <= index < len(cluster[task_type])):
        raise MultiNodeError(
            f"TF_CONFIG's task (type {task_type!r}, index {index!r}) is not in its cluster "
            f"({found}): this process would not be the one training; fix the task"
        )


def _cluster_and_task(config) -> tuple[dict, dict | None]:
    if not isinstance(config, dict):
        raise MalformedTFConfigError(
            f"TF_CONFIG must be a JSON object with 'cluster' and 'task', got {type(config).__name__}"
        )
    if config.get("sparseCluster") and not config.get("cluster"):
        # Kubeflow's TFJob with enableDynamicWorker: true gives each task only the ps
        # tasks and itself; Estimator's RunConfig reads 'cluster' only.
        raise SparseClusterError(
            "TF_CONFIG has 'sparseCluster' instead of 'cluster' (a Kubeflow TFJob with "
            "spec.enableDynamicWorker: true); Estimator reads only a full 'cluster': remove "
            "enableDynamicWorker from the TFJob (or set it to false)"
        )
    cluster, task = config.get("cluster") or {}, config.get("task")
    if not isinstance(cluster, dict) or not all(
        isinstance(hosts, list) and all(isinstance(h, str) for h in hosts)
        for hosts in cluster.values()
    ):
        raise MalformedTFConfigError(
            "TF_CONFIG's 'cluster' must map task types to lists of 'host:port' strings, got "
            f"{cluster!r}"
        )
    if task is None:
        return cluster, None
    index = task.get("index", 0) if isinstance(task, dict) else None
    if isinstance(index, str) and index.strip().isdigit():
        index = int(index)  # some schedulers write "0": Estimator's RunConfig takes int(index)
    if not (
        isinstance(task, dict)
        and isinstance(task.get("type"), str)
        and isinstance(index, int)
        and not isinstance(index, bool)
    ):
        raise MalformedTFConfigError(
            'TF_CONFIG\'s \'task\' must look like {"type": "chief", "index": 0}, got ' + repr(task)
        )
    return cluster, {**task, "index": index}


def check_runtime_versions(tf_version: str, keras_version: str | None, tf_keras: bool) -> None:
    """The installed TensorFlow and Keras can run Estimator (versions as strings)."""
    major_minor = ".".join(tf_version.split(".")[:2])
    if major_minor not in SUPPORTED_TF:
        raise UnsupportedRuntimeError(
            f"TensorFlow {tf_version} is installed, but Estimator projects run on TensorFlow "
            f"{', '.join(SUPPORTED_TF)} (Estimator was removed in 2.16): install the version "
            "this project pins, e.g. pip install -e '.[cpu]'"
        )
    if keras_version and int(keras_version.split(".")[0]) >= 3 and not tf_keras:
        raise UnsupportedRuntimeError(
            f"Keras {keras_version} is installed; Estimator needs Keras 2 "
            f"(tf.keras): pip install 'keras=={major_minor}.*'"
        )


# Runtime and graphs: need TensorFlow.


def check_runtime() -> None:
    """TensorFlow in the supported range, Estimator importable, Keras 2 behind tf.keras."""
    import tensorflow as tf

    try:
        import tf_keras  # noqa: F401

        has_tf_keras = True
    except ImportError:
        has_tf_keras = False
    # Versions first: on TensorFlow 2.16+ tensorflow_estimator fails to import anyway,
    # and "install another TensorFlow" is the fix that applies.
    check_runtime_versions(tf.__version__, getattr(tf.keras, "__version__", None), has_tf_keras)
    try:
        import tensorflow_estimator  # noqa: F401
    except ImportError as error:
        raise UnsupportedRuntimeError(
            f"tensorflow_estimator cannot be imported ({error}): pip install "
            f"'tensorflow-estimator=={'.'.join(tf.__version__.split('.')[:2])}.*'"
        ) from None


def check_run_config(config) -> None:
    """The Estimator's RunConfig: one machine, and a distribution in-memory copies can read."""
    if config.num_ps_replicas > 0 or config.num_worker_replicas > 1:
        raise MultiNodeError(
            f"the RunConfig describes a cluster ({config.num_worker_replicas} workers, "
            f"{config.num_ps_replicas} parameter servers): {CHECKPOINT_EVALUATION}"
        )
    if config.eval_distribute is not None:
        # Measured: with eval_distribute=MirroredStrategy over 2 devices, in-memory metrics
        # differed from estimator.evaluate() on the same checkpoint.
        raise UnsupportedDistributionError(
            f"RunConfig(eval_distribute={type(config.eval_distribute).__name__}) splits each "
            "eval batch across replicas, and in-memory evaluation does not reproduce "
            "estimator.evaluate()'s numbers under it: leave eval_distribute unset "
            "(train_distribute may stay)"
        )
    strategy = config.train_distribute
    if strategy is not None and type(strategy).__name__ not in SINGLE_MACHINE_STRATEGIES:
        raise UnsupportedDistributionError(
            f"train_distribute={type(strategy).__name__} is not supported by in-memory "
            f"evaluation (supported: {', '.join(sorted(SINGLE_MACHINE_STRATEGIES))}): "
            f"{CHECKPOINT_EVALUATION}"
        )


def _check_saveables(which: str, graph) -> None:
    import tensorflow as tf

    saveables = graph.get_collection(tf.compat.v1.GraphKeys.SAVEABLE_OBJECTS)
    if saveables:
        names = sorted({_name(s) for s in saveables})
        raise SaveableObjectsError(
            f"the {which} graph has state that is not a variable ({', '.join(names)}, in "
            "GraphKeys.SAVEABLE_OBJECTS: e.g. a MutableHashTable). Only variables are "
            f"copied into the eval graph, so it would evaluate without that state: "
            f"{CHECKPOINT_EVALUATION}"
        )


def check_eval_graph(eval_graph, eval_scaffold) -> None:
    """What in-memory evaluation needs of the model's eval graph alone."""
    import tensorflow as tf

    _check_saveables("eval", eval_graph)
    if eval_scaffold is not None and eval_scaffold.saver is not None:
        raise CustomSaverError(
            "the model's EVAL EstimatorSpec has Scaffold(saver=...): estimator.evaluate() "
            "would restore through that saver, but in-memory evaluation copies the raw "
            f"variables and would evaluate different weights: {CHECKPOINT_EVALUATION}"
        )
    savers = eval_graph.get_collection(tf.compat.v1.GraphKeys.SAVERS)
    if savers:
        raise CustomSaverError(
            f"the model registers {len(savers)} saver(s) in GraphKeys.SAVERS in EVAL mode (as "
            "ExponentialMovingAverage restore savers do): estimator.evaluate() would restore "
            "through it (e.g. the moving averages) but in-memory evaluation copies the raw "
            f"variables, so it would report the wrong weights' metrics: {CHECKPOINT_EVALUATION}"
        )
    if eval_scaffold is not None and eval_scaffold.init_fn is not None:
        raise CustomInitFnError(
            "the model's EVAL EstimatorSpec has Scaffold(init_fn=...): in-memory evaluation "
            "sets every variable from the training session and cannot run custom "
            "initialisation: move that logic out of the EVAL scaffold, or "
            f"{CHECKPOINT_EVALUATION}"
        )


def check_graphs(train_graph, eval_graph, eval_scaffold) -> None:
    """What in-memory evaluation needs of the training graph, given the eval graph
    (`check_eval_graph` has passed): no state but variables, and a training twin of the
    same name, dtype and shape for every eval variable."""
    import tensorflow as tf

    keys = tf.compat.v1.GraphKeys
    _check_saveables("training", train_graph)
    train_variables = {v.name: v for v in train_graph.get_collection(keys.GLOBAL_VARIABLES)}
    missing, mismatched = [], []
    for variable in eval_graph.get_collection(keys.GLOBAL_VARIABLES):
        twin = train_variables.get(variable.name)
        if twin is None:
            missing.append(variable.name)
        elif (
            twin.dtype.base_dtype != variable.dtype.base_dtype
            or not twin.shape.is_compatible_with(variable.shape)
        ):
            mismatched.append(
                f"{variable.name} ({variable.dtype.base_dtype.name}{variable.shape} in eval, "
                f"{twin.dtype.base_dtype.name}{twin.shape} in training)"
            )
    if missing or mismatched:
        raise UnmatchedVariablesError(
            "the eval graph has variables the training graph cannot fill"
            + (f"; no training variable named {', '.join(sorted(missing))}" if missing else "")
            + (f"; different dtype or shape: {', '.join(mismatched)}" if mismatched else "")
            + ". In-memory evaluation copies variables by name, so these would keep their "
            "initial values. Create the same variables, with the same names, in TRAIN and EVAL "
            "mode (variable names must not depend on the mode)"
        )


def _name(saveable) -> str:
    return getattr(saveable, "name", None) or type(saveable).__name__


def check_resume(train_graph, checkpoint_path: str, listed: int = 5) -> None:
    """The checkpoint holds exactly the training graph's variables: names, shapes, dtypes.

    Restoring a checkpoint of another model can "succeed" (resource variables take the
    restored shape) and the next save would then overwrite the run's checkpoint with a
    mixed state. Checked on a scratch graph, before any session reads model_dir.
    """
    import tensorflow as tf

    # The reader itself, not tf.train.load_checkpoint: that one first asks whether the path
    # is a folder, and TensorFlow's ram:// filesystem (the tests' bucket) says yes to any
    # prefix of a file name, so the checkpoint's own prefix.
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint_path)
    stored_shapes = reader.get_variable_to_shape_map()
    stored_dtypes = reader.get_variable_to_dtype_map()
    wanted = {
        v.op.name: v for v in train_graph.get_collection(tf.compat.v1.GraphKeys.GLOBAL_VARIABLES)
    }
    differences = []
    for name in sorted(set(wanted) - set(stored_shapes)):
        differences.append(f"{name} {_describe(wanted[name])} is not in the checkpoint")
    for name in sorted(set(stored_shapes) - set(wanted)):
        if name.startswith("_CHECKPOINTABLE_OBJECT_GRAPH"):
            continue
        differences.append(
            f"{name} ({stored_dtypes[name].name}{list(stored_shapes[name])}) is in the "
            "checkpoint but not in this model"
        )
    for name in sorted(set(wanted) & set(stored_shapes)):
        variable = wanted[name]
        if list(variable.shape) != list(stored_shapes[name]) or (
            variable.dtype.base_dtype != stored_dtypes[name]
        ):
            differences.append(
                f"{name} is {stored_dtypes[name].name}{list(stored_shapes[name])} in the "
                f"checkpoint but {_describe(variable)} in this model"
            )
    if differences:
        shown = "; ".join(differences[:listed])
        more = f" (and {len(differences) - listed} more)" if len(differences) > listed else ""
        raise ResumeMismatchError(
            f"cannot resume from {checkpoint_path}: the model this config builds differs from "
            f"the checkpoint's: {shown}{more}. Nothing was read or written. Resume with the "
            "run's own config (its .hydra/config.yaml and .hydra/overrides.yaml), or start a "
            "new run without model_dir="
        )


def _describe(variable) -> str:
    return f"({variable.dtype.base_dtype.name}{list(variable.shape)})"


def checking_training_graph(estimator, check):
    """An Estimator that trains exactly as `estimator` and calls `check(graph)` on its
    training graph as soon as the model_fn has built it (once per train() call).

    That is before Estimator's own hooks begin (they create event files in model_dir) and
    before its session restores from model_dir, so a check that raises leaves model_dir as
    it was, without building the graph a second time. The wrapper is the one
    tf.estimator.add_metrics builds: the same model_fn, model_dir and config.
    """
    import tensorflow as tf

    model_fn = estimator.model_fn
    checked = []

    def checked_model_fn(features, labels, mode, config):
        spec = model_fn(features, labels, mode, config)
        if mode == tf.estimator.ModeKeys.TRAIN and not checked:
            check(tf.compat.v1.get_default_graph())
            checked.append(True)  # replicas of a train_distribute strategy: the first
        return spec

    return tf.estimator.Estimator(
        checked_model_fn, model_dir=estimator.model_dir, config=estimator.config
    )
