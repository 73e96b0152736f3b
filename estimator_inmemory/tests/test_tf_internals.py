"""Every private TensorFlow/Estimator API the evaluator relies on exists on the pinned version."""

import tensorflow as tf

from estimator_inmemory import tf_internals


def test_module_level_symbols_resolve():
    # Importing tf_internals already resolved them; each must be the kind of thing used.
    assert isinstance(tf_internals.HookedSession, type)
    assert issubclass(tf_internals.DatasetInitializerHook, tf.estimator.SessionRunHook)
    assert callable(tf_internals.write_summaries)
    assert tf_internals.input_fn_args(lambda mode, params: None) == ("mode", "params")


def test_dataset_initializer_and_partition_check_work_on_this_version():
    with tf.Graph().as_default():
        dataset = tf.data.Dataset.range(3)
        iterator = tf.compat.v1.data.make_initializable_iterator(dataset)
        hook = tf_internals.DatasetInitializerHook(iterator)
        hook.begin()
        assert tf_internals.dataset_initializer(hook) is iterator.initializer
        whole = tf.compat.v1.get_variable("whole", shape=[4])
        parts = tf.compat.v1.get_variable(
            "parts", shape=[4], partitioner=tf.compat.v1.fixed_size_partitioner(2)
        )
        assert not tf_internals.is_partitioned(whole)
        assert all(tf_internals.is_partitioned(part) for part in parts)


def test_estimator_has_every_private_attribute_used(tmp_path):
    estimator = tf.estimator.Estimator(lambda features, labels, mode: None, str(tmp_path))
    missing = [name for name in tf_internals.ESTIMATOR_ATTRIBUTES if not hasattr(estimator, name)]
    assert not missing, f"tf.estimator.Estimator {tf.__version__} lacks {missing}"


def test_no_other_module_touches_private_tensorflow_apis():
    import pathlib
    import re

    import estimator_inmemory as package

    private = re.compile(r"tensorflow(_estimator)?\.python|estimator\._[a-z]")
    offenders = [
        path.name
        for path in pathlib.Path(package.__file__).parent.rglob("*.py")
        if path.name != "tf_internals.py" and private.search(path.read_text())
    ]
    assert not offenders
