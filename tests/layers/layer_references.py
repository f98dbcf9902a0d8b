"""Independent references and shared builders for the core-layer tests.

References use NumPy or plain Keras/TensorFlow layers only, never keras_adastride code.
"""

import numpy as np

import keras

from keras_adastride import CAS, PAS, SpaceToDepth, SpaceToDepthConv, StrideGate


def random_images(shape, seed=0, scale=1.0):
    """Float32 normal noise of ``shape`` (reproducible)."""
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype("float32")


def to_nhwc(x, data_format):
    return np.transpose(x, (0, 2, 3, 1)) if data_format == "channels_first" else x


def from_nhwc(x, data_format):
    return np.transpose(x, (0, 3, 1, 2)) if data_format == "channels_first" else x


def space_to_depth_reference(x, block, channel_order="tensorflow", data_format="channels_last"):
    """Slice-and-concat space-to-depth in NumPy (phase (i, j) = rows i::b, columns j::b).

    "tensorflow" stacks phases in order i*b + j, "focus" (SPD-Conv / YOLOv5) in order j*b + i.
    """
    x = to_nhwc(keras.ops.convert_to_numpy(x), data_format)
    pairs = [(i, j) for i in range(block) for j in range(block)]
    if channel_order == "focus":
        pairs = [(i, j) for j in range(block) for i in range(block)]
    out = np.concatenate([x[:, i::block, j::block, :] for i, j in pairs], axis=-1)
    return from_nhwc(out, data_format)


def pad_to_multiple_reference(x, block, data_format="channels_last"):
    """Zero-pad bottom and right of an image batch up to the next multiple of ``block``."""
    x = to_nhwc(keras.ops.convert_to_numpy(x), data_format)
    rows, cols = (-x.shape[1]) % block, (-x.shape[2]) % block
    return from_nhwc(np.pad(x, ((0, 0), (0, rows), (0, cols), (0, 0))), data_format)


def same_padding_offset(size, kernel, stride, dilation):
    """Index of the stride-1 'same' output that the first stride-S 'same' output equals.

    TensorFlow pads ``total = max((ceil(n/S) - 1)*S + k_eff - n, 0)`` with ``total // 2`` on top,
    so stride-S output i reads the window of stride-1 output ``i*S + offset``.
    """
    k_eff = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    top_strided = max((out - 1) * stride + k_eff - size, 0) // 2
    top_unit = (k_eff - 1) // 2
    return top_unit - top_strided


def every_layer_model(input_shape=(8, 8, 4), data_format="channels_last", groups=2):
    """A small functional model holding every layer of the package (and every PAS pool mode).

    ``groups``: of the second CAS (Keras compiles grouped convs with XLA on TensorFlow).
    """
    kw = dict(data_format=data_format)
    inputs = keras.Input(input_shape, name="image")
    x = CAS(6, 3, strides=2, padding="same", gate_init="random", name="cas", **kw)(inputs)
    x = CAS(6, 3, padding="same", groups=groups, gate_channels="per_channel",
            gate_activation="scaled_sigmoid", gate_init="random", name="cas_groups", **kw)(x)
    pooled = [
        PAS(pool_size=2, strides=1, padding="same", pool_mode=mode, gate_init="random",
            gate_channels=channels, gate_activation="relu6", name=f"pas_{mode}", **kw)(x)
        for mode, channels in (("max", "single"), ("average", "per_channel"),
                               ("avg_max_add", "single"), ("avg_max_concat", "per_channel"))
    ]
    x = keras.layers.Concatenate(axis=1 if data_format == "channels_first" else -1)(pooled)
    gate = StrideGate(1, channels=None, initialization="random", name="stride_gate", **kw)(x)
    x = keras.layers.Multiply()([x, gate])
    s2d = SpaceToDepth(2, channel_order="focus", name="space_to_depth", **kw)(x)
    x = SpaceToDepthConv(5, 3, padding="same", pad_to_multiple=True, name="spd_conv", **kw)(x)
    x = keras.layers.Concatenate(axis=1 if data_format == "channels_first" else -1)([x, s2d])
    outputs = keras.layers.GlobalAveragePooling2D(data_format=data_format, name="pool")(x)
    return keras.Model(inputs, outputs, name="every_layer")
