"""The no-downsampling dilated VGG: 3x3 convs with dilation rates 1, 2, 4, 8 keep the resolution and
still grow the receptive field (1 + 2·(1+2+4+8) = 31 pixels after four layers).

Layers ``conv{i}`` (3x3 "same", bias) -> ``conv{i}_bn`` -> ``conv{i}_relu`` for i = 1..4 with
16, 24, 32, 48 filters, then ``avg_pool`` (global) and ``predictions``: 25,474 trainable
parameters at 3 input channels / 10 classes (Keras adds 240 BN moving statistics).

Variants: "original" (the dilated net, stride 1 everywhere), "strided" (the same net with stride-2
convs and no dilation at the placed sites, default conv2-conv4: the downsampling baseline),
"spd" (that baseline with SPD-Conv instead of the stride-2 convs), "cas" (the dilated net with CAS
at the front and middle, ``conv1`` and ``conv3``, dilation kept). No pooling layer: no PAS.
"""

import keras

from keras_adastride.models._common import classes, classifier_top, image_input
from keras_adastride.models._downsampling import Downsampling

FILTERS = (16, 24, 32, 48)
RATES = (1, 2, 4, 8)


def check_widths(model, filters, rates):
    """The site names ``conv1``..``conv{n}`` after checking ``filters`` and ``rates`` pair up."""
    if len(filters) != len(rates) or not filters:
        raise ValueError(f"{model}: `filters` and `rates` must be non-empty and of equal "
                         f"length; received filters={filters!r}, rates={rates!r}.")
    return tuple(f"conv{i}" for i in range(1, len(filters) + 1))


def dilated_convs(x, plan, filters, rates):
    """The conv stack: ``conv{i}`` (3x3 "same", dilation ``rates[i-1]``) -> ``conv{i}_bn`` ->
    ``conv{i}_relu``; a site the plan places as "strided" / "spd" downsamples by 2 instead."""
    for i, (width, rate) in enumerate(zip(filters, rates), start=1):
        site = f"conv{i}"
        downsample = plan.placed(site) and plan.variant in ("strided", "spd")
        x = plan.conv(x, width, 3, strides=2 if downsample else 1, padding="same",
                      dilation_rate=1 if downsample else rate, name=site)
        x = keras.layers.BatchNormalization(name=f"{site}_bn")(x)
        x = keras.layers.Activation("relu", name=f"{site}_relu")(x)
    return x


def dilated_vgg(input_shape=(32, 32, 3), num_classes=10, downsampling="original",
                placements=None, filters=FILTERS, rates=RATES,
                classifier_activation="softmax", gate_options=None, name=None):
    """Build the dilated VGG.

    Args:
        downsampling: "original" (dilated, no downsampling), "strided", "spd" or "cas".
        placements: sites among ``conv1``..``conv{n}`` (see the module doc for the defaults).
        filters, rates: per-layer widths and dilation rates (equal lengths).
    """
    sites = check_widths("dilated_vgg", filters, rates)
    plan = Downsampling("dilated_vgg", downsampling, placements, {
        "strided": (sites, sites[1:]),
        "spd": (sites, sites[1:]),
        "cas": (sites, (sites[0], sites[len(sites) // 2])),
    }, gate_options)
    inputs = image_input("dilated_vgg", input_shape)
    x = dilated_convs(inputs, plan, filters, rates)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = classifier_top(x, classes("dilated_vgg", num_classes), classifier_activation)
    return keras.Model(inputs, x, name=name or f"dilated_vgg_{downsampling}")
