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


#: ``kernel_init`` names :func:`redraw_default_kernels` accepts: Keras' default and He et al.
#: (2015)'s draw for ReLU nets (torchvision's VGG / AlexNet use the latter).
KERNEL_DRAWS = {"glorot_uniform": keras.initializers.GlorotUniform,
                "he_normal": keras.initializers.HeNormal}


def redraw_default_kernels(model, kernel_init="he_normal", seed=None):
    """Every ``Conv2D`` / ``Dense`` kernel of ``model`` that Keras' default Glorot-uniform drew
    (also those CAS / SpaceToDepthConv hold) := a fresh ``kernel_init`` draw; kernels with a set
    start (SpaceToDepthConv's averaging pool sites) and the gates' keep theirs. Returns the
    names of the layers redrawn.

    Builders follow ``keras.applications`` (Glorot uniform, ``Var = 2 / (fan_in + fan_out)``),
    which halves the signal's variance at every square ReLU layer: through VGG16's 16 layers
    without batch normalization the first outputs barely depend on the input. He-normal
    (``Var = 2 / fan_in``) keeps it. Keras builds every layer with its initializer at
    construction, and the builders take no initializer argument, hence a redraw after building.
    One ``SeedGenerator(seed)`` serves all draws, so same-shaped kernels get different values
    (seed None: drawn from the global seed, ``keras.utils.set_random_seed``).
    """
    from keras_adastride.layers import StrideGate

    if kernel_init not in KERNEL_DRAWS:
        raise ValueError(f"argument `kernel_init` must be one of {list(KERNEL_DRAWS)}; "
                         f"received kernel_init={kernel_init!r}.")
    draw = KERNEL_DRAWS[kernel_init](seed=keras.random.SeedGenerator(seed))
    redrawn = []

    def visit(layer):
        if isinstance(layer, StrideGate):
            return
        if (type(layer) in (keras.layers.Conv2D, keras.layers.Dense)
                and isinstance(layer.kernel_initializer, keras.initializers.GlorotUniform)):
            layer.kernel.assign(draw(layer.kernel.shape, layer.kernel.dtype))
            redrawn.append(layer.name)
        for sublayer in layer._flatten_layers(include_self=False, recursive=False):
            visit(sublayer)

    for layer in model.layers:
        visit(layer)
    return redrawn
