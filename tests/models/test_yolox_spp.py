"""YOLOX's SPP bottleneck through the shared SpatialPyramidPooling layer: the same parameters and
outputs as the bottleneck written out with Keras pools (YOLOX's ``SPPBottleneck``). The whole
model's parameter count is checked in test_reference.py (8,968,255 for YOLOX-S)."""

import importlib

import numpy as np

import keras

from backend_neutral import to_numpy
from keras_adastride import SpatialPyramidPooling
from keras_adastride.models._downsampling import Downsampling

yolox_module = importlib.import_module("keras_adastride.models.yolox.yolox")


def _inline_spp(blocks, x, filters, name):
    """YOLOX's SPPBottleneck as Keras layers: 1x1, [x, maxpool 5/9/13 (stride 1)], 1x1."""
    x = blocks.conv(x, x.shape[-1] // 2, 1, 1, f"{name}_conv1")
    pooled = [keras.layers.MaxPooling2D(k, strides=1, padding="same")(x) for k in (5, 9, 13)]
    x = keras.layers.Concatenate()([x, *pooled])
    return blocks.conv(x, filters, 1, 1, f"{name}_conv2")


def test_yolox_spp_bottleneck_matches_the_inline_one():
    blocks = yolox_module._Blocks(Downsampling("yolox", "original", None, {}))
    inputs = keras.Input((None, None, 16))
    shared = keras.Model(inputs, blocks.spp(inputs, 16, "dark5_spp"))
    inline = keras.Model(inputs, _inline_spp(blocks, inputs, 16, "dark5_spp"))
    assert any(isinstance(layer, SpatialPyramidPooling) for layer in shared.layers)
    # 1x1 16->8 and 1x1 (4·8)->16 without bias, BN (4 numbers per channel) after each
    assert shared.count_params() == inline.count_params() == 16 * 8 + 4 * 8 + 32 * 16 + 4 * 16
    inline.set_weights(shared.get_weights())
    x = np.random.default_rng(0).normal(size=(2, 15, 17, 16)).astype("float32")
    np.testing.assert_allclose(to_numpy(shared(x)), to_numpy(inline(x)), atol=1e-6)
