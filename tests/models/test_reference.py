"""With the original downsampling each builder is the published architecture.

Reference counts: keras.applications (built here, ``weights=None``) for VGG16, MobileNet and
ResNet-50, with their weights copied layer by layer giving identical outputs; torchvision's counts
for AlexNet (61,100,840), VGG11 (132,863,336) and ResNet-18 (11,689,512); the YOLOX README for
YOLOX-S (8.97 M parameters, 26.8 GFLOPs at 640); the U-Net paper's layout; docs/DESIGN.md §1 for the
dilated VGG (25,474). FLOP references (torchvision's model tables give multiply-adds, ours count
2 per multiply-add): AlexNet 0.71 G, VGG16 15.47 G, ResNet-18 1.81 G multiply-adds, MobileNet
569 M (its paper).

PyTorch does not count BatchNormalization's moving mean / variance as parameters; Keras does
(non-trainable). So against torch counts we compare *trainable* parameters, and check that the
non-trainable rest is exactly the 2 moving statistics per BN channel. Counts and FLOPs of the
full-size nets are the same on every backend: checked once, in the TensorFlow run
(``backend_independent``).
"""

import numpy as np
import pytest

import keras

from backend_neutral import to_numpy
from keras_adastride import models
from keras_adastride.flops import count_flops


def trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def bn_statistics(model):
    return sum(2 * layer.gamma.shape[0] for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization))


def copy_weights(source, target):
    """Copy every weighted layer of ``source`` into the same-named layer of ``target``."""
    weighted = [layer for layer in source.layers if layer.weights]
    assert {l.name for l in weighted} == {l.name for l in target.layers if l.weights}
    for layer in weighted:
        target.get_layer(layer.name).set_weights(layer.get_weights())


@pytest.mark.parametrize("ours, reference, count", [
    # 138 M parameters built twice: once, in the TensorFlow run (VGG16's layers on every backend:
    # the headless parity below)
    pytest.param(models.vgg16, keras.applications.VGG16, 138_357_544,
                 marks=pytest.mark.backend_independent),
    (models.mobilenet, keras.applications.MobileNet, 4_253_864),
    (models.resnet50, keras.applications.ResNet50, 25_636_712),
])
def test_keras_applications_parity(ours, reference, count):
    ref = reference(weights=None)
    model = ours()
    assert ref.count_params() == count
    assert model.count_params() == count
    assert trainable(model) == trainable(ref)
    copy_weights(ref, model)
    x = np.random.default_rng(0).random((1, 224, 224, 3), "float32") * 2 - 1
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(ref(x)))


def test_vgg16_headless_parity():
    """include_top=False / pooling as keras.applications, at a small input."""
    ref = keras.applications.VGG16(weights=None, include_top=False, pooling="avg",
                                   input_shape=(32, 32, 3))
    model = models.vgg16((32, 32, 3), include_top=False, pooling="avg")
    copy_weights(ref, model)
    x = np.random.default_rng(1).random((2, 32, 32, 3), "float32")
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(ref(x)))


@pytest.mark.backend_independent
def test_torchvision_counts_and_flops():
    alexnet = models.alexnet()
    assert alexnet.count_params() == 61_100_840  # no BN: Keras and torch count alike
    assert count_flops(alexnet) / 2 == pytest.approx(0.714e9, rel=0.01)
    assert models.vgg11().count_params() == 132_863_336
    resnet18 = models.resnet18()
    assert trainable(resnet18) == 11_689_512
    # 4,800 BN channels (64 + 4·64 + 4·128+128 + 4·256+256 + 4·512+512), 2 statistics each
    assert resnet18.count_params() - trainable(resnet18) == bn_statistics(resnet18) == 9_600
    assert count_flops(resnet18) / 2 == pytest.approx(1.814e9, rel=0.01)


@pytest.mark.backend_independent
def test_reference_flops_of_keras_models():
    assert count_flops(models.vgg16()) / 2 == pytest.approx(15.47e9, rel=0.005)
    assert count_flops(models.mobilenet()) / 2 == pytest.approx(569e6, rel=0.01)


@pytest.mark.backend_independent
def test_yolox_s_size():
    model = models.yolox_s()
    assert trainable(model) == 8_968_255  # the YOLOX README's 9.0 M, the paper's 8.97 M
    assert round(trainable(model) / 1e6, 2) == 8.97
    assert model.count_params() - trainable(model) == bn_statistics(model)
    assert count_flops(model) / 1e9 == pytest.approx(26.8, abs=0.05)  # README, 640x640
    shapes = {k: tuple(v.shape) for k, v in model.output.items()}
    assert shapes == {"p3": (None, 80, 80, 85), "p4": (None, 40, 40, 85), "p5": (None, 20, 20, 85)}


def unet_parameters(base, in_channels, num_classes):
    """U-Net count from its layout: 3x3 convs, 2x2 up-convs, 1x1 output."""
    conv = lambda cin, cout, k: k * k * cin * cout + cout  # noqa: E731
    widths = [base * 2**i for i in range(5)]
    total, cin = 0, in_channels
    for w in widths:  # contracting path and bottleneck
        total += conv(cin, w, 3) + conv(w, w, 3)
        cin = w
    for w in reversed(widths[:-1]):  # expanding path
        total += conv(cin, w, 2) + conv(2 * w, w, 3) + conv(w, w, 3)
        cin = w
    return total + conv(cin, num_classes, 1)


@pytest.mark.backend_independent
def test_unet_size():
    model = models.unet((256, 256, 1), 2)
    assert model.count_params() == unet_parameters(64, 1, 2) == 31_030_658
    assert round(model.count_params() / 1e6, 1) == 31.0
    tiny = models.unet((64, 64, 3), 5, base_filters=8)
    assert tiny.count_params() == unet_parameters(8, 3, 5)


def test_dilated_vgg_size():
    model = models.dilated_vgg()
    assert trainable(model) == 25_474  # docs/DESIGN.md §1 (torch-style count)
    assert model.count_params() - trainable(model) == bn_statistics(model) == 240
    # stride-2 baseline: same parameters, not the same resolution
    strided = models.dilated_vgg(downsampling="strided")
    assert trainable(strided) == 25_474
    assert strided.get_layer("conv4").output.shape[1:3] == (4, 4)
    assert model.get_layer("conv4").output.shape[1:3] == (32, 32)


def test_dilated_segnet_size_and_resolution():
    """Seed 002's segmentation net: the dilated VGG's convs, a 1x1 conv head instead of global
    pooling + dense, every map at the input resolution."""
    model = models.dilated_segnet((64, 84, 1), 11)
    convs = [(1, 16), (16, 24), (24, 32), (32, 48)]
    expected = sum(9 * cin * cout + cout + 2 * cout for cin, cout in convs) + 48 * 11 + 11
    assert trainable(model) == expected == 25_235
    assert model.count_params() - trainable(model) == bn_statistics(model) == 240
    assert model.output_shape == (None, 64, 84, 11)
    assert [model.get_layer(f"conv{i}").dilation_rate for i in range(1, 5)] == [
        (1, 1), (2, 2), (4, 4), (8, 8)]
    assert all(layer.output.shape[1:3] == (64, 84) for layer in model.layers[1:])
    assert models.dilated_segnet((None, None, 1), 3).output_shape == (None, None, None, 3)

