"""Two logical CPU devices, the fixture project, its digits as a fixture, and a temp folder
of the session's own.

The devices let distribution tests mirror across devices on any machine; this must happen
before TensorFlow first runs an op, hence here, at collection time.

A passing run leaves nothing in the temp folder: pytest removes its own folders when every
test passed (`tmp_path_retention_policy = "failed"` in pyproject.toml); everything else this
process and the processes it starts write there (TensorFlow's autograph files, TensorBoard's
info files, the training runs' own temp folders) goes into a folder of the session's own,
removed when the session ends, also when it is killed (`estimator_inmemory.scratch`).
"""

import pytest
import tensorflow as tf
from estimator_inmemory.scratch import use_private_tempdir

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture(scope="session")
def data():
    """The fixture project's default dataset (scikit-learn's bundled digits)."""
    from fixture_project.data import DATASETS
    from helpers import compose_train

    return DATASETS["digits"](compose_train().data)


@pytest.fixture(scope="session", autouse=True)
def private_temp_folder(tmp_path_factory):
    """The session's own temp folder (pytest's base temp folder stays where pytest keeps it,
    so a failed test's files are still there to look at)."""
    tmp_path_factory.getbasetemp()
    return use_private_tempdir("estimator-inmemory-tests-")


@pytest.fixture(autouse=True)
def fresh_summary_writers():
    """Each test starts with no summary writer cached by an earlier one: Estimator keeps one
    per folder for the process's lifetime (FileWriterCache), and a writer whose folder was
    removed since (a passed test's tmp_path, whose name the next test of the same name
    gets) writes nothing."""
    yield
    tf.compat.v1.summary.FileWriterCache.clear()
