"""Two logical CPU devices, so distribution tests can mirror across devices on any machine.

This must happen before TensorFlow first runs an op, hence here, at collection time.
"""

import tensorflow as tf

_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
