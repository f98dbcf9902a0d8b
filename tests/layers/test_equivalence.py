"""With the gate held at 1, CAS/PAS are exactly the plain Keras layers; and the paper's premise:
a stride-S conv/pool is the stride-1 result sampled every S-th row and column."""

import numpy as np
import pytest

import keras

from backend_neutral import to_numpy
from keras_adastride import CAS, PAS, SpaceToDepthConv
from layer_references import random_images, same_padding_offset
from pooling_references import window_reduce


def _input_shape(rows, cols, channels, data_format):
    if data_format == "channels_first":
        return (2, channels, rows, cols)
    return (2, rows, cols, channels)


CONV_CASES = [
    # kernel, strides, padding, dilation, groups, data_format, activation, use_bias
    (3, 1, "valid", 1, 1, "channels_last", None, True),
    (3, 2, "same", 1, 1, "channels_last", "relu", True),
    ((3, 2), (2, 3), "valid", 1, 1, "channels_last", None, False),
    (3, 1, "same", 2, 1, "channels_last", None, True),
    (1, 2, "valid", 1, 2, "channels_last", "tanh", True),
    (3, 2, "same", 1, 2, "channels_first", None, False),
    (2, 1, "valid", (2, 1), 1, "channels_first", "relu", True),
    (5, 3, "same", 1, 4, "channels_last", None, True),
    # groups = input channels (4): the depthwise path, depth multiplier 2
    (3, 2, "valid", 1, 4, "channels_first", "relu", True),
    (3, 1, "same", 2, 4, "channels_last", None, False),
]


@pytest.mark.parametrize("kernel,strides,padding,dilation,groups,data_format,activation,use_bias",
                         CONV_CASES)
def test_cas_with_identity_gate_equals_conv2d(
    kernel, strides, padding, dilation, groups, data_format, activation, use_bias
):
    x = random_images(_input_shape(11, 10, 4, data_format))
    args = dict(kernel_size=kernel, strides=strides, padding=padding, dilation_rate=dilation,
                groups=groups, data_format=data_format, activation=activation, use_bias=use_bias,
                bias_initializer="random_normal")
    cas = CAS(8, gate_init="identity", **args)
    conv = keras.layers.Conv2D(8, **args)
    conv.build(x.shape)
    cas.build(x.shape)
    cas.conv.set_weights(conv.get_weights())
    expected = keras.ops.convert_to_numpy(conv(x))
    np.testing.assert_allclose(to_numpy(cas.gate_map(x)), 1.0, rtol=0, atol=0)
    for training in (True, False):
        np.testing.assert_allclose(to_numpy(cas(x, training=training)), expected, rtol=0,
                                   atol=1e-5)
    np.testing.assert_allclose(to_numpy(cas.initial_map(x)), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("gate_activation", ["relu", "relu6", "scaled_sigmoid", "softplus"])
@pytest.mark.parametrize("gate_channels", ["single", "per_channel"])
def test_identity_gate_is_exactly_one_for_every_activation(gate_activation, gate_channels):
    x = random_images((2, 9, 9, 3), scale=10.0)
    cas = CAS(4, 3, strides=2, gate_activation=gate_activation, gate_channels=gate_channels)
    gate = to_numpy(cas.gate_map(x))
    assert gate.shape == (2, 4, 4, 1 if gate_channels == "single" else 4)
    np.testing.assert_allclose(gate, 1.0, rtol=0, atol=1e-6)


def _pool_reference(x, mode, pool_args):
    # The mean of the window's pixels inside the image, as TensorFlow's and JAX's
    # AveragePooling2D compute it (torch's replicates an uneven "same" padding's edge into it).
    average = window_reduce(x, np.mean, **pool_args).astype("float32")
    maximum = to_numpy(keras.layers.MaxPooling2D(**pool_args)(x))
    axis = 1 if pool_args["data_format"] == "channels_first" else -1
    return {
        "max": maximum,
        "average": average,
        "avg_max_add": average + maximum,
        "avg_max_concat": np.concatenate([average, maximum], axis=axis),
    }[mode]


@pytest.mark.parametrize("mode", ["max", "average", "avg_max_add", "avg_max_concat"])
@pytest.mark.parametrize(
    "pool_size,strides,padding,data_format",
    [(2, None, "valid", "channels_last"), (3, 2, "same", "channels_last"),
     ((2, 3), (1, 2), "same", "channels_first"), (3, 1, "valid", "channels_first")],
)
def test_pas_with_identity_gate_equals_pooling(mode, pool_size, strides, padding, data_format):
    x = random_images(_input_shape(11, 10, 3, data_format))
    pool_args = dict(pool_size=pool_size, strides=strides, padding=padding, data_format=data_format)
    pas = PAS(pool_mode=mode, gate_init="identity", **pool_args)
    expected = _pool_reference(x, mode, pool_args)
    np.testing.assert_allclose(to_numpy(pas(x)), expected, rtol=0, atol=1e-6)


def _strided_and_unit(layer_class, x, strides, **args):
    """The layer with ``strides`` and the same layer (same weights) with stride 1."""
    strided = layer_class(strides=strides, gate_init="identity", **args)
    unit = layer_class(strides=1, gate_init="identity", **args)
    strided.build(x.shape)
    unit.build(x.shape)
    unit.set_weights(strided.get_weights())
    return to_numpy(strided(x)), to_numpy(unit(x))


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("size", [7, 8, 13])
# (Keras convs reject strides > 1 together with dilation > 1, so the strided cases are undilated.)
@pytest.mark.parametrize("kernel,strides,dilation", [(1, 2, 1), (2, 2, 1), (3, 2, 1), (3, 3, 1),
                                                     (4, 3, 1), (5, 2, 1), (2, 4, 1)])
def test_strided_conv_is_unit_stride_conv_subsampled(padding, size, kernel, strides, dilation):
    x = random_images((1, size, size + 1, 2))
    if (kernel - 1) * dilation + 1 > size:
        pytest.skip("kernel larger than the input")
    strided, unit = _strided_and_unit(
        CAS, x, strides, filters=3, kernel_size=kernel, padding=padding, dilation_rate=dilation
    )
    if padding == "valid":
        rows = cols = 0
    else:
        rows = same_padding_offset(size, kernel, strides, dilation)
        cols = same_padding_offset(size + 1, kernel, strides, dilation)
    sampled = unit[:, rows::strides, cols::strides, :][:, : strided.shape[1], : strided.shape[2]]
    assert sampled.shape == strided.shape
    np.testing.assert_allclose(strided, sampled, rtol=0, atol=1e-5)


def test_same_padding_offset_is_not_always_zero():
    # The 'same' case needs its offset: an even total padding difference shifts the grid by one.
    assert same_padding_offset(8, 3, 2, 1) == 1
    assert same_padding_offset(7, 3, 2, 1) == 0
    x = random_images((1, 8, 8, 1))
    strided, unit = _strided_and_unit(CAS, x, 2, filters=1, kernel_size=3, padding="same")
    assert not np.allclose(strided, unit[:, ::2, ::2])
    np.testing.assert_allclose(strided, unit[:, 1::2, 1::2], atol=1e-5)


@pytest.mark.parametrize("mode", ["max", "average", "avg_max_add"])
@pytest.mark.parametrize("size,pool,strides", [(9, 2, 2), (10, 3, 2), (11, 3, 3), (8, 2, 4)])
def test_strided_valid_pooling_is_unit_stride_pooling_subsampled(mode, size, pool, strides):
    x = random_images((2, size, size, 2))
    strided, unit = _strided_and_unit(PAS, x, strides, pool_size=pool, pool_mode=mode)
    np.testing.assert_allclose(strided, unit[:, ::strides, ::strides], rtol=0, atol=1e-6)


GATE_ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0),
    "relu6": lambda z: np.clip(z, 0, 6),
    "scaled_sigmoid": lambda z: 12 / (1 + np.exp(-z)),
    "softplus": lambda z: np.log1p(np.exp(z)),
    "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
}


def _conv_reference(x, kernel, bias, activation=None, data_format="channels_last", **geometry):
    """A bias-free Keras Conv2D carrying ``kernel``, the bias added in NumPy (see
    test_channels_first_bias_when_width_equals_filters for why not Keras's bias)."""
    conv = keras.layers.Conv2D(kernel.shape[-1], kernel.shape[:2], use_bias=False,
                               activation=activation, data_format=data_format, **geometry)
    conv.build(x.shape)
    conv.set_weights([to_numpy(kernel)])
    out = to_numpy(conv.convolution_op(x, conv.kernel))
    if bias is not None:
        out = out + to_numpy(bias).reshape((1, -1, 1, 1) if data_format == "channels_first"
                                             else (1, 1, 1, -1))
    return to_numpy(conv.activation(out))


def _gate_reference(gate, x, geometry):
    """The gate rebuilt from plain convs carrying its weights: first conv with the main op's
    geometry, then ReLU + stride-1 'same' convs, then the final activation (in NumPy)."""
    hidden = x
    for i, (kernel, bias) in enumerate(zip(gate.kernels, gate.biases)):
        args = geometry if i == 0 else dict(padding="same", data_format=geometry["data_format"])
        hidden = _conv_reference(np.maximum(hidden, 0) if i else hidden, kernel, bias, **args)
    return GATE_ACTIVATIONS[gate.activation](hidden.astype("float64"))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(strides=2, padding="same", gate_activation="relu"),
        dict(use_bias=False, gate_activation="relu6", gate_channels="per_channel"),
        dict(groups=2, activation="relu", gate_activation="scaled_sigmoid", gate_depth=2),
        dict(data_format="channels_first", gate_activation="softplus", gate_hidden_kernel_size=3),
        dict(dilation_rate=2, padding="same", gate_activation="sigmoid", gate_depth=1),
    ],
)
@pytest.mark.parametrize("fuse", ["training", True, False])
def test_cas_with_random_gate_equals_conv_times_reference_gate(kwargs, fuse):
    data_format = kwargs.get("data_format", "channels_last")
    x = random_images(_input_shape(9, 10, 4, data_format), scale=2.0)
    cas = CAS(6, 3, gate_init="random", bias_initializer="random_normal", **kwargs)
    cas.fuse_gate_conv = fuse
    cas.build(x.shape)
    rng = np.random.default_rng(1)  # gate weights from NumPy: the same on every backend
    for kernel, bias in zip(cas.gate.kernels, cas.gate.biases):
        kernel.assign(rng.normal(0, 0.3, kernel.shape))
        bias.assign(rng.normal(0, 0.5, bias.shape))
    geometry = dict(strides=kwargs.get("strides", 1), padding=kwargs.get("padding", "valid"),
                    dilation_rate=kwargs.get("dilation_rate", 1), data_format=data_format)
    gate = _gate_reference(cas.gate, x, geometry)
    assert 0 < np.count_nonzero(gate) and (kwargs["gate_activation"] != "relu" or gate.min() == 0)
    initial = _conv_reference(x, cas.conv.kernel, cas.conv.bias, kwargs.get("activation"),
                              groups=kwargs.get("groups", 1), **geometry)
    expected = initial * gate
    for training in (True, False):  # fuse="training": the fused conv, then the separate one
        np.testing.assert_allclose(to_numpy(cas(x, training=training)), expected,
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["max", "avg_max_concat"])
@pytest.mark.parametrize("gate_channels", ["single", "per_channel"])
def test_pas_with_random_gate_equals_pool_times_reference_gate(mode, gate_channels):
    x = random_images((2, 9, 10, 3), scale=2.0)
    pas = PAS(3, 2, padding="same", pool_mode=mode, gate_init="random",
              gate_channels=gate_channels, gate_activation="relu6")
    pas.build(x.shape)
    pool_args = dict(pool_size=3, strides=2, padding="same", data_format="channels_last")
    gate = _gate_reference(pas.gate, x, dict(strides=2, padding="same", dilation_rate=1,
                                             data_format="channels_last"))
    if mode == "avg_max_concat" and gate_channels == "per_channel":
        gate = np.concatenate([gate, gate], axis=-1)
    expected = _pool_reference(x, mode, pool_args) * gate
    np.testing.assert_allclose(to_numpy(pas(x)), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fuse", ["training", True, False])
def test_channels_first_bias_when_width_equals_filters(fuse):
    """Keras 3.15's TensorFlow ``ops.add`` adds a (1, C, 1, 1) bias along the width when the
    width also equals C, so a channels_first Conv2D of output width == filters is wrong there;
    CAS and SpaceToDepthConv add their bias themselves and stay right."""
    x = random_images((2, 3, 7, 10))  # 'valid' 3x3 -> output width 8 == filters
    cas = CAS(8, 3, data_format="channels_first", bias_initializer="random_normal")
    cas.fuse_gate_conv = fuse
    cas.build(x.shape)
    geometry = dict(data_format="channels_first")
    expected = _conv_reference(x, cas.conv.kernel, cas.conv.bias, **geometry)
    for training in (True, False):
        np.testing.assert_allclose(to_numpy(cas(x, training=training)), expected, rtol=0,
                                   atol=1e-5)
    np.testing.assert_allclose(to_numpy(cas.initial_map(x)), expected, rtol=0, atol=1e-5)

    spd = SpaceToDepthConv(8, 1, data_format="channels_first", bias_initializer="random_normal")
    x = random_images((2, 3, 6, 16))  # width 8 after space-to-depth
    stacked = x.reshape(2, 3, 3, 2, 8, 2).transpose(0, 3, 5, 1, 2, 4).reshape(2, 12, 3, 8)
    spd.build(x.shape)
    expected = _conv_reference(stacked, spd.conv.kernel, spd.conv.bias, **geometry)
    np.testing.assert_allclose(to_numpy(spd(x)), expected, rtol=0, atol=1e-5)
