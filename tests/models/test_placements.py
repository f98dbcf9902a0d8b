"""The downsampling switch: placements, unsupported combinations, and how placed layers start."""

import re

import numpy as np
import pytest

import keras

from backend_neutral import to_numpy
from keras_adastride import CAS, PAS, SpaceToDepth, SpaceToDepthConv, models
from keras_adastride.models._downsampling import AveragingKernel, Downsampling


@pytest.mark.parametrize("builder, variant, supported", [
    (models.mobilenet, "pas", "['original', 'cas', 'spd']"),
    (models.yolox_s, "pas", "['original', 'cas', 'spd']"),
    (models.dilated_vgg, "pas", "['original', 'strided', 'spd', 'cas', 'large_kernel', 'cascade']"),
    (models.dilated_segnet, "spd", "['original', 'cas']"),
    (models.small_vgg, "none", "['original', 'cas', 'pas', 'spd']"),
])
def test_unsupported_variant_names_what_is_supported(builder, variant, supported):
    with pytest.raises(ValueError, match=rf"downsampling.*{re.escape(supported)}"):
        builder(downsampling=variant)


def test_bad_placements_are_rejected():
    with pytest.raises(ValueError, match="block1_conv1.*block9_conv1"):
        models.small_vgg(downsampling="cas", placements=["block9_conv1"])
    with pytest.raises(ValueError, match="placements.*block1_pool"):  # PAS needs a pool site
        models.small_vgg(downsampling="pas", placements=["block1_conv1"])
    with pytest.raises(ValueError, match="'original' replaces no site"):
        models.small_vgg(placements=["block1_pool"])
    with pytest.raises(ValueError, match="input_shape"):
        models.unet((40, 40, 1))
    with pytest.raises(ValueError, match="preset"):
        models.alexnet(preset="caffe")


def placed(model, kind):
    return sorted(layer.name for layer in model.layers if isinstance(layer, kind))


def test_paper_placements():
    assert placed(models.small_vgg(downsampling="cas"), CAS) == ["block1_conv1", "block2_conv1"]
    assert placed(models.vgg16((32, 32, 3), include_top=False, downsampling="cas"), CAS) == [
        "block1_conv1", "block3_conv1"]
    assert placed(models.small_vgg(downsampling="pas"), PAS) == ["block2_pool"]
    assert placed(models.alexnet((32, 32, 3), 10, downsampling="cas"), CAS) == ["conv1", "conv3"]
    assert placed(models.alexnet((32, 32, 3), 10, downsampling="pas"), PAS) == ["pool2"]
    assert placed(models.unet((32, 32, 1), 2, base_filters=4, downsampling="cas"), CAS) == ["down2"]
    yolox = models.yolox_s((64, 64, 3), 3, width=0.125, downsampling="cas")
    assert placed(yolox, CAS) == sorted(f"head_{l}_{p}" for l in ("p3", "p4", "p5")
                                        for p in ("stem", "cls_conv1"))
    resnet = models.resnet18((32, 32, 3), 10, downsampling="spd")
    assert placed(resnet, SpaceToDepthConv) == ["conv1_conv", "pool1_pool"]
    assert sorted(l.name for l in resnet.layers if type(l) is SpaceToDepth) == [
        f"conv{s}_block1_space_to_depth" for s in (3, 4, 5)]


def test_chosen_and_all_placements():
    model = models.small_vgg(downsampling="pas", placements=["block1_pool", "block3_pool"])
    assert placed(model, PAS) == ["block1_pool", "block3_pool"]
    model = models.small_vgg(downsampling="spd", placements="all")
    assert placed(model, SpaceToDepthConv) == ["block1_pool", "block2_pool", "block3_pool"]
    model = models.small_vgg(downsampling="cas", placements="block3_conv2",
                             gate_options=dict(gate_width=4, gate_channels="per_channel"))
    (cas,) = [layer for layer in model.layers if isinstance(layer, CAS)]
    assert cas.gate.width == 4 and cas.gate_channels == "per_channel"


def copy_into(source, target):
    """Copy ``source``'s weights into ``target``, into the ``conv`` of each CAS (a depthwise
    kernel (kh, kw, C, 1) becomes the grouped kernel (kh, kw, 1, C))."""
    for layer in source.layers:
        if not layer.weights:
            continue
        other = target.get_layer(layer.name)
        weights = layer.get_weights()
        if isinstance(other, CAS):
            other = other.conv
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                weights = [np.transpose(weights[0], (0, 1, 3, 2))] + weights[1:]
        other.set_weights(weights)


@pytest.mark.parametrize("builder, kwargs", [
    (models.small_vgg, dict(input_shape=(28, 28, 1))),
    (models.alexnet, dict(input_shape=(32, 32, 3))),
    (models.mobilenet, dict(input_shape=(32, 32, 3), alpha=0.25)),
    (models.yolox_s, dict(input_shape=(64, 64, 3), width=0.125)),
])
def test_cas_and_pas_models_start_as_the_original(builder, kwargs):
    """Identity-initialised gates: same weights, same outputs (the paper's starting point)."""
    original = builder(**kwargs)
    x = np.random.default_rng(0).random((2, *original.input_shape[1:]), "float32")
    expected = keras.tree.flatten(original(x))
    variants = ["cas", "pas"] if builder in (models.small_vgg, models.alexnet) else ["cas"]
    for variant in variants:
        model = builder(downsampling=variant, **kwargs)
        copy_into(original, model)
        for a, b in zip(expected, keras.tree.flatten(model(x))):
            np.testing.assert_allclose(to_numpy(b), to_numpy(a), rtol=1e-5, atol=1e-6)


def site_model(variant, site_kind, **kwargs):
    plan = Downsampling("test", variant, ["site"], {variant: (["site"], ["site"])})
    inputs = keras.Input((8, 8, 3))
    if site_kind == "pool":
        return keras.Model(inputs, plan.pool(inputs, 2, name="site", **kwargs))
    return keras.Model(inputs, plan.conv(inputs, 5, 3, name="site", **kwargs))


@pytest.mark.parametrize("variant", ["cas", "spd"])
def test_cas_and_spd_at_a_pooling_site_start_as_average_pooling(variant):
    x = np.random.default_rng(2).random((2, 8, 8, 3), "float32")
    expected = keras.layers.AveragePooling2D(2)(x)
    np.testing.assert_allclose(to_numpy(site_model(variant, "pool")(x)), expected, atol=1e-6)


def test_spd_at_a_strided_conv_site():
    model = site_model("spd", "conv", strides=2, padding="same")
    (layer,) = [l for l in model.layers if isinstance(l, SpaceToDepthConv)]
    assert layer.conv.kernel.shape == (3, 3, 12, 5)  # same kernel on the 4x channels
    assert model.output.shape == (None, 4, 4, 5)


def test_averaging_kernel_rejects_mismatched_channels():
    with pytest.raises(ValueError, match="multiple of output channels"):
        AveragingKernel()((1, 1, 6, 4))
