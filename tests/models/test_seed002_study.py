"""Seed 002's study as builder variants of ``dilated_vgg``: each net has the architecture and
exactly the trainable parameter count the seed publishes (CIFAR-10: 32x32x3 inputs, 10 classes),
counted independently here from the layer shapes (PyTorch-style: no BN moving statistics)."""

import keras
import pytest

from keras_adastride import models

#: seed 002 (shared/seeds/002_*.txt): trainable parameters of each net.
PUBLISHED = {"original": 25_474, "strided": 25_474, "large_kernel": 172_930, "cascade": 86_404}


def trainable(model):
    return sum(int(keras.ops.size(w)) for w in model.trainable_weights)


def convs(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


def by_hand(layers, classes=10, last_bn=True):
    """Trainable parameters of a chain of (kernel, in, out) convs with bias, each followed by
    BN (gamma, beta; not after the last when ``last_bn`` is False), then GAP + dense."""
    total = sum(k * k * cin * cout + cout + 2 * cout for k, cin, cout in layers)
    if not last_bn:
        total -= 2 * layers[-1][2]
    return total + layers[-1][2] * classes + classes


@pytest.mark.parametrize("variant", sorted(PUBLISHED))
def test_each_net_has_the_published_parameter_count(variant):
    model = models.dilated_vgg((32, 32, 3), 10, downsampling=variant)
    assert trainable(model) == PUBLISHED[variant]


def test_the_nets_are_the_seeds_architectures():
    dilated = convs(models.dilated_vgg(downsampling="original"))
    assert [(c.kernel_size[0], c.dilation_rate[0], c.strides[0]) for c in dilated] == [
        (3, 1, 1), (3, 2, 1), (3, 4, 1), (3, 8, 1)]
    widths = [(3, 3, 16), (3, 16, 24), (3, 24, 32), (3, 32, 48)]
    assert by_hand(widths) == PUBLISHED["original"]

    # the seed's author's code strides the dilated layers conv2-conv4, conv1 stays stride 1
    strided = models.dilated_vgg(downsampling="strided")
    assert [(c.strides[0], c.dilation_rate[0]) for c in convs(strided)] == [
        (1, 1), (2, 1), (2, 1), (2, 1)]
    assert strided.get_layer("conv4").output.shape[1:3] == (4, 4)
    every = models.dilated_vgg(downsampling="strided", placements="all")
    assert [c.strides[0] for c in convs(every)] == [2, 2, 2, 2]
    assert trainable(every) == PUBLISHED["strided"]

    large = convs(models.dilated_vgg(downsampling="large_kernel"))
    assert [(c.kernel_size[0], c.dilation_rate[0], c.strides[0]) for c in large] == [
        (3, 1, 1), (5, 1, 1), (7, 1, 1), (9, 1, 1)]
    assert by_hand([(k, cin, cout) for k, (_, cin, cout) in zip((3, 5, 7, 9), widths)]) == (
        PUBLISHED["large_kernel"])

    cascade = models.dilated_vgg(downsampling="cascade")
    chain = [16, 20, 24, 28, 30, 32, 36, 38, 42, 48]
    assert [(c.kernel_size[0], c.filters) for c in convs(cascade)] == [(3, w) for w in chain]
    assert [c.name for c in convs(cascade)][:3] == ["conv1_1", "conv2_1", "conv2_2"]
    assert by_hand(list(zip([3] * 10, [3] + chain[:-1], chain)), last_bn=False) == (
        PUBLISHED["cascade"])
    # the tenth conv feeds the global pooling directly, as in the seed's code
    assert cascade.get_layer("avg_pool").input is cascade.get_layer("conv4_4").output
    for model in (dilated, large):
        assert all(c.padding == "same" for c in model)


def test_bad_forms_are_refused():
    with pytest.raises(ValueError, match=r"kernel_sizes=\(3, 4, 7, 9\)"):
        models.dilated_vgg(downsampling="large_kernel", kernel_sizes=(3, 4, 7, 9))
    with pytest.raises(ValueError, match=r"cascade_filters=\(\(16,\), \(\), \(32,\), \(48,\)\)"):
        models.dilated_vgg(downsampling="cascade", cascade_filters=((16,), (), (32,), (48,)))


def test_resnet18_with_dilated_stages_instead_of_downsampling():
    """Seed 002's ResNet: the strided stages run at stride 1 with dilation 2, 4, 8; same
    parameters as the original, the last stage at the second stage's resolution."""
    original = models.resnet18((32, 32, 3), 10, alpha=0.125)
    dilated = models.resnet18((32, 32, 3), 10, alpha=0.125, downsampling="dilated")
    assert trainable(dilated) == trainable(original)
    assert dilated.get_layer("conv5_block2_out").output.shape[1:3] == (8, 8)
    assert original.get_layer("conv5_block2_out").output.shape[1:3] == (1, 1)
    rates = {c.name: c.dilation_rate[0] for c in convs(dilated) if c.kernel_size[0] == 3}
    for stage, rate in ((2, 1), (3, 2), (4, 4), (5, 8)):
        assert {r for name, r in rates.items() if name.startswith(f"conv{stage}_")} == {rate}
    assert all(c.strides[0] == 1 for c in convs(dilated) if c.name.startswith(("conv3", "conv4",
                                                                                  "conv5")))
