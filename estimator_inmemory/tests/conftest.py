"""Two logical CPU devices, the fixture project, and its digits as a fixture.

The devices let distribution tests mirror across devices on any machine; this must happen
before TensorFlow first runs an op, hence here, at collection time.
"""

import pytest
import tensorflow as tf

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture(scope="session")
def data():
    """The fixture project's default dataset (scikit-learn's bundled digits)."""
    from fixture_project.data import DATASETS
    from helpers import compose_train

    return DATASETS["digits"](compose_train().data)
