"""SpaceToDepth against tf.nn.space_to_depth and a NumPy slice-and-concat reference;
SpaceToDepthConv against the strided conv it replaces."""

import numpy as np
import pytest
import tensorflow as tf

import keras

from backend_neutral import to_numpy
from keras_adastride import SpaceToDepth, SpaceToDepthConv
from layer_references import (
    from_nhwc,
    pad_to_multiple_reference,
    random_images,
    space_to_depth_reference,
    to_nhwc,
)

FORMATS = ["channels_last", "channels_first"]


def _images(rows, cols, channels, data_format, seed=0):
    return from_nhwc(random_images((2, rows, cols, channels), seed=seed), data_format)


def _tf_space_to_depth(x, block, data_format):
    # TensorFlow's NCHW SpaceToDepth has no CPU kernel: transpose around the NHWC op.
    return from_nhwc(tf.nn.space_to_depth(to_nhwc(x, data_format), block).numpy(), data_format)


def _tf_depth_to_space(x, block, data_format):
    return from_nhwc(tf.nn.depth_to_space(to_nhwc(x, data_format), block).numpy(), data_format)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("block,rows,cols", [(2, 4, 6), (3, 9, 6), (4, 8, 4), (2, 2, 2)])
def test_tensorflow_order_matches_tf_nn_and_numpy(data_format, block, rows, cols):
    x = _images(rows, cols, 3, data_format)
    out = to_numpy(SpaceToDepth(block, data_format=data_format)(x))
    np.testing.assert_array_equal(out, _tf_space_to_depth(x, block, data_format))
    reference = space_to_depth_reference(x, block, "tensorflow", data_format)
    np.testing.assert_array_equal(out, reference)
    np.testing.assert_array_equal(_tf_depth_to_space(out, block, data_format), x)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("block", [2, 3])
def test_focus_order_matches_yolov5_slices(data_format, block):
    x = _images(6, 12, 2, data_format)
    out = to_numpy(SpaceToDepth(block, channel_order="focus", data_format=data_format)(x))
    np.testing.assert_array_equal(out, space_to_depth_reference(x, block, "focus", data_format))
    assert not np.array_equal(out, _tf_space_to_depth(x, block, data_format))
    if block == 2:  # YOLOv5 Focus / SPD-Conv, literally: cat(x[::2, ::2], x[1::2, ::2], ...)
        h = to_nhwc(x, data_format)
        focus = np.concatenate(
            [h[:, ::2, ::2], h[:, 1::2, ::2], h[:, ::2, 1::2], h[:, 1::2, 1::2]], axis=-1
        )
        np.testing.assert_array_equal(to_nhwc(out, data_format), focus)


@pytest.mark.parametrize("data_format", FORMATS)
@pytest.mark.parametrize("rows,cols", [(5, 7), (6, 7), (1, 1), (4, 4)])
def test_pad_to_multiple_pads_bottom_and_right(data_format, rows, cols):
    x = _images(rows, cols, 2, data_format)
    layer = SpaceToDepth(2, pad_to_multiple=True, data_format=data_format)
    out = to_numpy(layer(x))
    padded = pad_to_multiple_reference(x, 2, data_format)
    np.testing.assert_array_equal(out, _tf_space_to_depth(padded, 2, data_format))
    assert out.shape == layer.compute_output_shape(x.shape)


@pytest.mark.parametrize("channel_order", ["tensorflow", "focus"])
@pytest.mark.parametrize("data_format", FORMATS)
def test_space_to_depth_then_1x1_conv_is_2x2_stride_2_conv(channel_order, data_format):
    """SPD(2) + 1x1 conv == 2x2 conv, stride 2, with kernel[i, j, c, o] at input channel
    (i*2 + j)*C + c ("tensorflow") or (j*2 + i)*C + c ("focus")."""
    channels, filters = 3, 5
    x = _images(6, 8, channels, data_format)
    strided = keras.layers.Conv2D(filters, 2, strides=2, data_format=data_format,
                                  bias_initializer="random_normal")
    strided.build(x.shape)
    kernel, bias = strided.get_weights()
    if channel_order == "focus":
        kernel = kernel.transpose(1, 0, 2, 3)
    spd = SpaceToDepthConv(filters, 1, channel_order=channel_order, data_format=data_format)
    spd.build(x.shape)
    spd.conv.set_weights([kernel.reshape(1, 1, 4 * channels, filters), bias])
    np.testing.assert_allclose(to_numpy(spd(x)), to_numpy(strided(x)), rtol=0, atol=1e-5)


@pytest.mark.parametrize("data_format", FORMATS)
def test_space_to_depth_conv_is_conv_of_space_to_depth(data_format):
    x = _images(7, 5, 3, data_format)
    spd = SpaceToDepthConv(4, 3, block_size=2, pad_to_multiple=True, padding="same",
                           channel_order="focus", data_format=data_format, activation="relu")
    out = to_numpy(spd(x))
    conv = keras.layers.Conv2D(4, 3, padding="same", data_format=data_format, activation="relu")
    stacked = space_to_depth_reference(pad_to_multiple_reference(x, 2, data_format), 2, "focus",
                                       data_format)
    conv.build(stacked.shape)
    conv.set_weights(spd.conv.get_weights())
    np.testing.assert_allclose(out, to_numpy(conv(stacked)), rtol=0, atol=1e-5)
    assert out.shape == spd.compute_output_shape(x.shape)
