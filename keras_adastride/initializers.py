"""Initializers the model builders use; registered at package import so every saved model loads
with a plain ``import keras_adastride``."""

import numpy as np

import keras


@keras.saving.register_keras_serializable(package="keras_adastride")
class AveragingKernel(keras.initializers.Initializer):
    """Conv kernel ``(kh, kw, k·C, C)`` that averages, for output channel c, the input channels
    c, C + c, ..., (k-1)·C + c over the whole window: ``W[i, j, m·C + c, c] = 1 / (kh·kw·k)``.

    With k = 1 the conv is average pooling; after ``SpaceToDepth(b)`` (TensorFlow channel order,
    k = b²) a 1x1 conv with it is b×b average pooling.
    """

    def __call__(self, shape, dtype=None):
        return keras.ops.convert_to_tensor(averaging_kernel(shape), dtype=dtype)


def averaging_kernel(shape):
    """The :class:`AveragingKernel` array of ``shape`` (float32 NumPy; shared with the
    ``tf_keras`` twin in ``keras_adastride.tfmot.layers``)."""
    kh, kw, cin, cout = shape
    if cin % cout:
        raise ValueError(
            f"AveragingKernel: input channels ({cin}) must be a multiple of output channels "
            f"({cout}); received shape={tuple(shape)}."
        )
    kernel = np.zeros(shape, "float32")
    copies = cin // cout
    for m in range(copies):
        kernel[:, :, m * cout + np.arange(cout), np.arange(cout)] = 1.0 / (kh * kw * copies)
    return kernel
