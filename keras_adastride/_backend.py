"""One layer implementation, two Keras generations.

The layer logic (``keras_adastride.layers.*Logic``) never imports ``keras`` directly: it reaches
Keras through ``self._gen``, a :class:`Generation` holding the Keras module (Keras 3 or ``tf_keras``)
and an ``ops`` namespace with the few tensor functions the layers use. Keras 3 brings
``keras.ops`` (any backend); ``tf_keras`` gets :data:`TF_OPS`, the same names on TensorFlow.
"""

import math
import types


class Generation:
    """A Keras generation: its module (``keras`` or ``tf_keras``), its ``ops`` namespace and its
    seeded random numbers (``seed_generator(seed)``; ``uniform(shape, generator)`` in [0, 1),
    float32), which follow the generation's global seed (``set_random_seed``)."""

    def __init__(self, name, keras_module, ops, seed_generator, uniform):
        self.name = name
        self.keras = keras_module
        self.ops = ops
        self.seed_generator = seed_generator
        self.uniform = uniform

    def __repr__(self):
        return f"Generation({self.name!r})"


def _make_tf_ops():
    """The subset of ``keras.ops`` the layers use, written with TensorFlow, for ``tf_keras``."""
    import tensorflow as tf

    def conv(inputs, kernel, strides, padding, data_format, dilation_rate):
        # TF's CPU kernels only run NHWC: transpose around the op for channels_first.
        if data_format == "channels_first":
            inputs = tf.transpose(inputs, (0, 2, 3, 1))
        outputs = tf.nn.convolution(
            inputs,
            kernel,
            strides=strides,
            padding=padding.upper(),
            dilations=dilation_rate,
            data_format="NHWC",
        )
        if data_format == "channels_first":
            outputs = tf.transpose(outputs, (0, 3, 1, 2))
        return outputs

    def shape(x):
        # As keras.ops.shape: Python ints where the size is static, scalar tensors where not.
        # (All-dynamic sizes would make a pad's widths run-time values: the TFLite converter
        # then loses every dimension of the padded tensor, and a quantized conv after it
        # stays a TF op.)
        dynamic = tf.shape(x)
        return tuple(dynamic[i] if size is None else size for i, size in enumerate(x.shape))

    def split(x, indices, axis):
        # keras.ops.split: an int gives that many equal parts; a list cuts before each index.
        if isinstance(indices, int):
            return tf.split(x, indices, axis=axis)
        bounds = [0, *indices, x.shape[axis]]
        return tf.split(x, [stop - start for start, stop in zip(bounds, bounds[1:])], axis=axis)

    return types.SimpleNamespace(
        conv=conv,
        relu=tf.nn.relu,
        relu6=tf.nn.relu6,
        sigmoid=tf.math.sigmoid,
        softplus=tf.math.softplus,
        multiply=tf.multiply,
        reshape=tf.reshape,
        concatenate=lambda xs, axis: tf.concat(xs, axis=axis),
        split=split,
        pad=lambda x, pad_width: tf.pad(x, pad_width),
        mean=tf.reduce_mean,
        sum=tf.reduce_sum,
        cumsum=tf.cumsum,
        maximum=tf.maximum,
        minimum=tf.minimum,
        where=tf.where,
        stack=lambda xs, axis: tf.stack(xs, axis=axis),
        expand_dims=tf.expand_dims,
        ones=lambda shape, dtype="float32": tf.ones(shape, dtype),
        ones_like=tf.ones_like,
        zeros_like=tf.zeros_like,
        full_like=lambda x, value: tf.fill(tf.shape(x), tf.cast(value, x.dtype)),
        abs=tf.abs,
        sort=tf.sort,
        arange=tf.range,
        stop_gradient=tf.stop_gradient,
        cast=tf.cast,
        shape=shape,
        convert_to_numpy=lambda x: x.numpy(),
    )


class _ChannelsLastKernels:
    """``keras.ops`` whose ops with a ``data_format`` (conv, depthwise conv, pooling) run
    channels-last on TensorFlow: without oneDNN (TensorFlow's default on CPUs lacking AVX-512,
    e.g. this project's AMD EPYC machines) its CPU kernels refuse NCHW ("The Conv2D op currently
    only supports the NHWC tensor format on the CPU"), so ``channels_first`` inputs are
    transposed around them, as :func:`_make_tf_ops` does for ``tf_keras``."""

    LAYOUT_OPS = ("conv", "depthwise_conv", "average_pool", "max_pool")

    def __init__(self, ops):
        self._ops = ops

    def __getattr__(self, name):
        op = getattr(self._ops, name)
        return self._channels_last(op) if name in self.LAYOUT_OPS else op

    def _channels_last(self, op):
        ops = self._ops

        def run(inputs, *args, data_format=None, **kwargs):
            if data_format != "channels_first":
                return op(inputs, *args, data_format=data_format, **kwargs)
            outputs = op(ops.transpose(inputs, (0, 2, 3, 1)), *args, data_format="channels_last",
                         **kwargs)
            return ops.transpose(outputs, (0, 3, 1, 2))

        return run


def keras3():
    """The Keras 3 generation (``keras.ops`` works on every backend; on TensorFlow the
    layout ops run channels-last: :class:`_ChannelsLastKernels`)."""
    import keras

    ops = _ChannelsLastKernels(keras.ops) if keras.backend.backend() == "tensorflow" else keras.ops
    return Generation(
        "keras3", keras, ops, keras.random.SeedGenerator,
        lambda shape, generator: keras.random.uniform(shape, seed=generator),
    )


def _tf_keras_random_generator(seed):
    """tf_keras's seeded generator (what its Dropout uses; not in the public ``backend``)."""
    from tf_keras.src import backend

    return backend.RandomGenerator(seed)


def tf_keras():
    """The ``tf_keras`` (Keras 2) generation, which TFMOT requires."""
    import tf_keras as tfk

    return Generation(
        "tf_keras", tfk, _make_tf_ops(), _tf_keras_random_generator,
        lambda shape, generator: generator.random_uniform(shape),
    )


LOG_E_MINUS_1 = math.log(math.e - 1.0)
