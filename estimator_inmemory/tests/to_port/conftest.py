"""Two logical CPU devices, and the embedded digits as a fixture.

The devices let distribution tests mirror across devices on any machine; this must happen
before TensorFlow first runs an op, hence here, at collection time.
"""

import pytest
import tensorflow as tf
from helpers import compose_train

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


@pytest.fixture(scope="module")
def data():
    """The default data config's dataset (the embedded digits)."""
    from {{ cookiecutter.package_name }}.data import load_dataset

    return load_dataset(compose_train().data)
