"""count_flops against hand counts (multiply-add = 2 FLOPs; bias, BN, pooling, products as the
module doc says), layer by layer and for a whole VGG16 written out from its layout."""

import pytest

import keras

from keras_adastride import CAS, PAS, SpaceToDepthConv
from keras_adastride.flops import count_flops, flops_by_layer


def single(layer, shape=(8, 8, 3)):
    inputs = keras.Input(shape)
    return keras.Model(inputs, layer(inputs))


def test_conv_dense_depthwise_pool_bn_add():
    # conv 3x3, 3 -> 5, same, 8x8: 64 positions x 5 outputs x 27 multiply-adds, + bias
    assert count_flops(single(keras.layers.Conv2D(5, 3, padding="same"))) == 64 * 5 * (2 * 27 + 1)
    assert count_flops(single(keras.layers.Conv2D(6, 3, groups=3, use_bias=False))) == \
        36 * 6 * 2 * 9
    assert count_flops(single(keras.layers.DepthwiseConv2D(3, strides=2, padding="same"))) == \
        16 * 3 * (2 * 9 + 1)
    assert count_flops(single(keras.layers.Conv2DTranspose(4, 2, strides=2))) == \
        64 * 3 * 4 * 4 * 2 + 256 * 4
    assert count_flops(single(keras.layers.MaxPooling2D(2))) == 16 * 3 * 4
    assert count_flops(single(keras.layers.GlobalAveragePooling2D())) == 192
    assert count_flops(single(keras.layers.BatchNormalization())) == 2 * 192
    assert count_flops(single(keras.layers.Dense(7), shape=(10,))) == 7 * (2 * 10 + 1)
    inputs = keras.Input((4, 4, 2))
    model = keras.Model(inputs, keras.layers.Add()([inputs, inputs, inputs]))
    assert count_flops(model) == 2 * 32
    assert count_flops(single(keras.layers.ReLU())) == 0


def gate_flops(positions, cin, kernel, width, depth, hidden_kernel, channels):
    widths = [cin] + [width] * (depth - 1) + [channels]
    kernels = [kernel] + [hidden_kernel] * (depth - 1)
    return sum(positions * (2 * k * k * widths[i] * widths[i + 1] + widths[i + 1])
               for i, k in enumerate(kernels))


def test_cas_is_conv_plus_gate_plus_product():
    layer = CAS(5, 3, strides=2, padding="same", gate_width=4, gate_depth=3)
    model = single(layer)
    conv = 16 * 5 * (2 * 27 + 1)
    gate = gate_flops(16, 3, 3, 4, 3, layer.gate.hidden_kernel_size, 1)
    assert count_flops(model) == conv + gate + 16 * 5


def test_pas_is_pool_plus_gate_plus_product():
    layer = PAS(2, pool_mode="avg_max_add", gate_width=4, gate_channels="per_channel")
    model = single(layer)
    pools = 2 * 16 * 3 * 4 + 16 * 3  # two pools, then their sum
    gate = gate_flops(16, 3, 2, 4, 3, layer.gate.hidden_kernel_size, 3)
    assert count_flops(model) == pools + gate + 16 * 3


def test_space_to_depth_conv_is_its_stride_1_conv():
    model = single(SpaceToDepthConv(5, 3, padding="same"))
    assert count_flops(model) == 16 * 5 * (2 * 3 * 3 * 12 + 1)


def test_vgg16_by_hand():
    from keras_adastride.models import vgg16

    total, size, cin = 0, 224, 3
    for block in ((64, 64), (128, 128), (256,) * 3, (512,) * 3, (512,) * 3):
        for cout in block:
            total += size * size * cout * (2 * 9 * cin + 1)
            cin = cout
        size //= 2
        total += size * size * cin * 4  # 2x2 max pool
    for fan_in, units in ((25088, 4096), (4096, 4096), (4096, 1000)):
        total += units * (2 * fan_in + 1)
    model = vgg16()
    assert count_flops(model) == total
    by_layer = flops_by_layer(model)
    assert by_layer["block1_conv1"] == 224 * 224 * 64 * (2 * 27 + 1)
    assert sum(by_layer.values()) == total


def test_nested_models_are_counted():
    inner = single(keras.layers.Conv2D(5, 3, padding="same"))
    inputs = keras.Input((8, 8, 3))
    outer = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inner(inputs)))
    assert count_flops(outer) == count_flops(inner) + 64 * 5


def test_sequential_models_are_counted():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
                              keras.layers.Flatten(), keras.layers.Dense(2)])
    assert count_flops(model) == 36 * 4 * (2 * 27 + 1) + 2 * (2 * 144 + 1)


def test_unknown_spatial_size_is_an_error():
    with pytest.raises(ValueError, match="fixed input_shape"):
        count_flops(single(keras.layers.Conv2D(5, 3), shape=(None, None, 3)))


def test_effective_flops_count_the_kept_tiles_only():
    """Sparse execution's FLOPs: gate everywhere, conv and product on kept tiles x b² positions
    (the 10x10 output is 3x3 tiles of 4, the edge ones overhanging: 144 positions for all)."""
    import numpy as np

    from keras_adastride.flops import effective_flops, kept_tile_fractions

    inputs = keras.Input((10, 10, 3))
    cas = CAS(5, 3, padding="same", sparse_block_size=4, name="cas")
    model = keras.Model(inputs, cas(inputs))
    gate = gate_flops(100, 3, 3, 8, 3, 1, 1)
    conv_and_product_per_position = 5 * (2 * 27 + 1) + 5
    images = np.zeros((4, 10, 10, 3), "float32")
    assert kept_tile_fractions(model, images) == {"cas": 1.0}  # identity gate: all kept
    assert effective_flops(model, images) == gate + 144 * conv_and_product_per_position
    assert count_flops(model) == gate + 100 * conv_and_product_per_position
    # a gate that is 0 unless the centre tap reads channel 0 > 0 (as in test_sparse_execution)
    first = np.zeros(cas.gate.kernels[0].shape, "float32")
    first[1, 1, 0, :] = 1.0
    cas.gate.kernels[0].assign(first)
    cas.gate.biases[-1].assign([0.0])
    for kernel in cas.gate.kernels[1:]:
        kernel.assign(np.ones(kernel.shape, "float32"))
    images[..., 0] = -1.0
    images[0, 0, 0, 0] = images[1, 9, 9, 0] = images[1, 5, 1, 0] = 1.0  # 3 of 4 x 9 tiles
    assert kept_tile_fractions(model, images) == {"cas": pytest.approx(3 / 36)}
    assert effective_flops(model, images) == pytest.approx(
        gate + 3 / 4 * 16 * conv_and_product_per_position)
