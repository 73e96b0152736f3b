"""Setups in-memory evaluation cannot evaluate correctly are refused before training starts.

Through the hook alone (in `begin()`, before the training session), and through
`hook.prepare()` + `hook.checked_training(resume_from=...)`, which refuse before anything
touches model_dir.
"""

import json

import pytest
import tensorflow as tf

import estimator_inmemory as inmemory
from estimator_inmemory import InMemoryEvaluatorHook, eval_input_fn, guards, train_input_fn
from fixture_project.model import mlp_model_fn
from helpers import mlp_params


def with_extra(extra):
    """mlp_model_fn, plus `extra(mode)` called in the model's graph; may return a Scaffold."""

    def model_fn(features, labels, mode, params):
        spec = mlp_model_fn(features, labels, mode, params)
        scaffold = extra(mode)
        return spec._replace(scaffold=scaffold) if scaffold is not None else spec

    return model_fn


def hash_table(mode):
    table = tf.lookup.experimental.MutableHashTable(tf.string, tf.int64, default_value=-1)
    table.insert(tf.constant(["seen"]), tf.constant([1], tf.int64))


def ema_restore_saver(mode):
    if mode == tf.estimator.ModeKeys.EVAL:
        ema = tf.train.ExponentialMovingAverage(0.99)
        saver = tf.compat.v1.train.Saver(ema.variables_to_restore())
        tf.compat.v1.add_to_collection(tf.compat.v1.GraphKeys.SAVERS, saver)


def scaffold_saver(mode):
    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.compat.v1.train.Scaffold(saver=tf.compat.v1.train.Saver())


def scaffold_init_fn(mode):
    if mode == tf.estimator.ModeKeys.EVAL:
        return tf.compat.v1.train.Scaffold(init_fn=lambda scaffold, session: None)


def eval_only_variable(mode):
    if mode == tf.estimator.ModeKeys.EVAL:
        tf.compat.v1.get_variable("calibration", shape=[10], initializer=tf.zeros_initializer())


GRAPH_CASES = [
    (hash_table, inmemory.SaveableObjectsError, "state that is not a variable"),
    (ema_restore_saver, inmemory.CustomSaverError, "GraphKeys.SAVERS"),
    (scaffold_saver, inmemory.CustomSaverError, "Scaffold(saver=...)"),
    (scaffold_init_fn, inmemory.CustomInitFnError, "Scaffold(init_fn=...)"),
    (
        eval_only_variable,
        inmemory.UnmatchedVariablesError,
        "no training variable named calibration:0",
    ),
]


def train_with_hook(
    model_dir, data, model_fn=mlp_model_fn, config=None, eval_input=None, **hook_kwargs
):
    config = (config or tf.estimator.RunConfig()).replace(model_dir=str(model_dir))
    estimator = tf.estimator.Estimator(model_fn, params=mlp_params(data), config=config)
    hook = InMemoryEvaluatorHook(
        estimator, eval_input or eval_input_fn(data, 128), every_n_iter=10, **hook_kwargs
    )
    estimator.train(train_input_fn(data, 32, seed=1), max_steps=20, hooks=[hook])
    return estimator, hook


def assert_untouched(model_dir):
    assert tf.train.latest_checkpoint(str(model_dir)) is None
    assert not tf.io.gfile.glob(f"{model_dir}/eval/events.*")


@pytest.mark.parametrize(
    "extra, error, cause", GRAPH_CASES, ids=[c[0].__name__ for c in GRAPH_CASES]
)
def test_hook_refuses_the_graph_before_the_training_session(tmp_path, data, extra, error, cause):
    with pytest.raises(error) as raised:
        train_with_hook(tmp_path, data, with_extra(extra))
    assert cause in str(raised.value)
    assert isinstance(raised.value, inmemory.UnsupportedSetupError)
    assert isinstance(raised.value, ValueError)
    assert_untouched(tmp_path)


def files_in(folder) -> dict:
    """Every file under `folder`: relative path -> (size, modification time)."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def checked_train(estimator, data, resume_from=None, max_steps=20):
    """What training.train() does: prepare(), then train through checked_training()."""
    hook = InMemoryEvaluatorHook(estimator, eval_input_fn(data, 128), every_n_iter=10)
    hook.prepare()
    trained = hook.checked_training(resume_from=resume_from)
    trained.train(train_input_fn(data, 32, 1), max_steps=max_steps, hooks=[hook])
    return hook


@pytest.mark.parametrize(
    "extra, error, cause", GRAPH_CASES, ids=[c[0].__name__ for c in GRAPH_CASES]
)
def test_checked_training_refuses_the_graph_without_touching_model_dir(
    tmp_path, data, extra, error, cause
):
    estimator = tf.estimator.Estimator(with_extra(extra), str(tmp_path), params=mlp_params(data))
    with pytest.raises(error) as raised:
        checked_train(estimator, data)
    assert cause in str(raised.value)
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_checked_training_refuses_a_resume_of_another_model_without_touching_model_dir(
    tmp_path, data
):
    first = tf.estimator.Estimator(mlp_model_fn, str(tmp_path), params=mlp_params(data))
    checked_train(first, data, max_steps=10)
    checkpoint = tf.train.latest_checkpoint(str(tmp_path))
    before = files_in(tmp_path)
    other = tf.estimator.Estimator(
        mlp_model_fn, str(tmp_path), params=mlp_params(data, hidden_units=(8,))
    )
    with pytest.raises(inmemory.ResumeMismatchError, match="h0/kernel is float32") as raised:
        checked_train(other, data, resume_from=checkpoint)
    assert "Nothing was read or written" in str(raised.value)
    assert files_in(tmp_path) == before


@pytest.mark.parametrize("model", ["mlp", "dnn"])
def test_checked_training_accepts_the_fixture_models_and_their_resume(tmp_path, data, model):
    # Optimizer slots and the global step exist only in the training graph: that is fine.
    from helpers import estimator_for

    estimator = estimator_for(tmp_path, data, model)
    assert list(checked_train(estimator, data, max_steps=10).history) == [0, 10]
    resumed = checked_train(estimator, data, resume_from=tf.train.latest_checkpoint(str(tmp_path)))
    assert list(resumed.history) == [10, 20]


def tf_config(cluster, task=None):
    return {"cluster": cluster, **({"task": task} if task is not None else {})}


def task(task_type, index=0):
    return {"type": task_type, "index": index}


MULTI_NODE = [
    (tf_config({"chief": ["a:1"], "worker": ["b:1"]}, task("chief")), "(1 chief, 1 worker)"),
    (tf_config({"worker": ["a:1", "b:1"]}, task("worker", 1)), "(2 worker)"),
    (tf_config({"chief": ["a:1"], "ps": ["p:1"]}, task("chief")), "(1 chief, 1 ps)"),
    (tf_config({"chief": ["a:1"]}, task("evaluator")), "an 'evaluator' task"),
    (tf_config({"chief": ["a:1"]}, task("worker")), "(type 'worker', index 0) is not in its"),
    (tf_config({"chief": ["a:1"]}, task("chief", 3)), "(type 'chief', index 3) is not in its"),
]


@pytest.mark.parametrize("tf_config, cause", MULTI_NODE)
def test_multi_node_tf_config_is_refused_naming_the_way_out(tf_config, cause):
    with pytest.raises(inmemory.MultiNodeError) as raised:
        guards.check_tf_config(json.dumps(tf_config))
    assert cause in str(raised.value)
    assert "train_and_evaluate" in str(raised.value) or "fix the task" in str(raised.value)


@pytest.mark.parametrize(
    "tf_config, cause",
    [
        ("{not json", "TF_CONFIG is not JSON"),
        ("[1, 2]", "must be a JSON object"),
        (json.dumps(tf_config({"chief": "a:1"})), "'cluster' must map task types to lists"),
        (json.dumps(tf_config({"chief": ["a:1"]}, {"index": 0})), "'task' must look like"),
    ],
)
def test_malformed_tf_config_gets_its_own_error(tf_config, cause):
    with pytest.raises(inmemory.MalformedTFConfigError, match=cause):
        guards.check_tf_config(tf_config)


def test_hook_constructor_refuses_a_cluster_before_anything_runs(tmp_path, data, monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(MULTI_NODE[0][0]))
    with pytest.raises(inmemory.MultiNodeError):
        train_with_hook(tmp_path, data)
    assert_untouched(tmp_path)


@pytest.mark.parametrize(
    "tf_config",
    [None, tf_config({"chief": ["localhost:2222"]}, task("chief"))],
)
def test_one_machine_trains_and_evaluates(tmp_path, data, monkeypatch, tf_config):
    if tf_config:
        monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
    else:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    _, hook = train_with_hook(tmp_path, data)
    assert list(hook.history) == [0, 10, 20]


def test_a_single_machine_strategy_evaluates_the_right_weights(tmp_path, data):
    # Decided by experiment: under train_distribute (Mirrored, OneDevice, CentralStorage on
    # one machine) the copied weights give estimator.evaluate()'s numbers. Mirrored over two
    # logical CPUs hangs Estimator on some machines, so OneDevice is what runs here.
    config = tf.estimator.RunConfig(
        train_distribute=tf.distribute.OneDeviceStrategy("/cpu:0"), save_checkpoints_steps=10
    )
    estimator, hook = train_with_hook(tmp_path, data, config=config)
    for step, metrics in hook.history.items():
        expected = estimator.evaluate(
            eval_input_fn(data, 128), checkpoint_path=f"{tmp_path}/model.ckpt-{step}"
        )
        assert metrics["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-6)


def test_eval_distribute_is_refused(tmp_path, data):
    config = tf.estimator.RunConfig(eval_distribute=tf.distribute.MirroredStrategy(["/cpu:0"]))
    with pytest.raises(inmemory.UnsupportedDistributionError, match="eval_distribute"):
        train_with_hook(tmp_path, data, config=config)
    assert_untouched(tmp_path)


def test_multi_worker_strategy_is_refused(tmp_path, data):
    config = tf.estimator.RunConfig(
        train_distribute=tf.distribute.experimental.MultiWorkerMirroredStrategy()
    )
    with pytest.raises(
        inmemory.UnsupportedDistributionError, match="CollectiveAllReduceStrategy is not supported"
    ):
        train_with_hook(tmp_path, data, config=config)
    assert_untouched(tmp_path)


@pytest.mark.parametrize(
    "versions, cause",
    [
        (("2.16.1", "3.3.3", False), "TensorFlow 2.16.1 is installed"),
        (("2.11.0", "2.11.0", False), "TensorFlow 2.11.0 is installed"),
        (("2.15.1", "3.0.1", False), "Keras 3.0.1 is installed"),
    ],
)
def test_unsupported_runtime_is_named(versions, cause):
    with pytest.raises(inmemory.UnsupportedRuntimeError, match=cause):
        guards.check_runtime_versions(*versions)


@pytest.mark.parametrize(
    "versions",
    [("2.12.1", "2.12.0", False), ("2.15.1", "2.15.0", False), ("2.15.1", "3.0.1", True)],
)
def test_supported_runtimes_pass(versions):
    guards.check_runtime_versions(*versions)


def test_this_environment_passes_the_runtime_check():
    guards.check_runtime()


@pytest.mark.parametrize(
    "schedule, cause",
    [
        ({"every_n_iter": 0}, "every_n_iter must be a positive integer"),
        ({"every_n_iter": -1}, "every_n_iter must be a positive integer"),
        ({"every_n_iter": 2.5}, "every_n_iter must be a positive integer"),
        ({"every_n_iter": True}, "every_n_iter must be a positive integer"),
        ({"every_n_iter": None}, "both None"),
        ({"every_n_iter": 10, "every_n_secs": 0}, "every_n_secs must be a positive number"),
        ({"every_n_iter": 10, "steps": 0}, "steps must be a positive integer"),
    ],
)
def test_bad_schedules_are_refused(schedule, cause):
    with pytest.raises(inmemory.ScheduleError, match=cause):
        guards.check_schedule(**schedule)


def test_eval_input_fn_returning_tensors_is_refused_before_training(tmp_path, data):
    # Kept open for the whole run, an evaluation cannot restart a one-shot iterator: every
    # evaluation after the first used to run no batch and report an accuracy of 0.
    def tensors_input_fn():
        dataset = eval_input_fn(data, 128)()
        return tf.compat.v1.data.make_one_shot_iterator(dataset).get_next()

    estimator = tf.estimator.Estimator(mlp_model_fn, str(tmp_path), params=mlp_params(data))
    hook = InMemoryEvaluatorHook(estimator, tensors_input_fn, every_n_iter=10)
    with pytest.raises(inmemory.EvalInputNotDatasetError, match="returns tensors, not a tf.data"):
        hook.prepare()
    with pytest.raises(inmemory.EvalInputNotDatasetError):
        train_with_hook(tmp_path, data, eval_input=tensors_input_fn)
    assert_untouched(tmp_path)
