"""The no-downsampling dilated VGG of seed 002 and the nets it is compared with.

Dilated 3x3 convs with rates 1, 2, 4, 8 keep the resolution and still grow the receptive field
(1 + 2·(1+2+4+8) = 31 pixels after four layers).

Layers ``conv{i}`` (3x3 "same", bias) -> ``conv{i}_bn`` -> ``conv{i}_relu`` for i = 1..4 with
16, 24, 32, 48 filters, then ``avg_pool`` (global) and ``predictions``: 25,474 trainable
parameters at 3 input channels / 10 classes (Keras adds 240 BN moving statistics).

Variants (``downsampling``), each at the placed sites (``conv1``..``conv4``):

- "original": the dilated net, stride 1 everywhere.
- "strided": stride-2 convs, no dilation; default ``conv2``-``conv4`` (25,474 parameters). Seed 002
  calls it "stride 2 convolutions for downsampling at each layer" and "stride set to 2 on the
  originally dilated convolutional layers"; its author's code (akkaze/cnn-without-any-downsampling,
  ``vgg.py``, ``use_downsampling``) strides exactly the dilated layers conv2-conv4 and keeps conv1
  at stride 1. ``placements="all"`` strides conv1 too (same parameter count).
- "large_kernel": undilated convs with ``kernel_sizes`` (3, 5, 7, 9), default every site: seed
  002's large-kernel net, 172,930 parameters.
- "cascade": each site a cascade of 3x3 convs ``conv{i}_{j}`` (+ ``_bn``, ``_relu``) with the
  widths of ``cascade_filters``, default every site: seed 002's ten-layer 3x3 net (16 | 20, 24 |
  28, 30, 32 | 36, 38, 42, 48: 1, 2, 3, 4 convs, the receptive fields of the 3, 5, 7, 9 kernels),
  86,404 parameters. As in its author's code the network's last conv feeds the global pooling
  directly (no BN / ReLU after it).
- "spd": the strided baseline with SPD-Conv instead of the stride-2 convs.
- "cas": the dilated net with CAS at the front and middle, ``conv1`` and ``conv3``, dilation kept.

No pooling layer: no PAS.
"""

import keras

from keras_adastride.models._common import (classes, classifier_top, image_input, scaled,
                                            width_multiplier)
from keras_adastride.models._downsampling import Downsampling

FILTERS = (16, 24, 32, 48)
RATES = (1, 2, 4, 8)
#: seed 002's large-kernel net: the kernel of each layer (dilation 1).
KERNEL_SIZES = (3, 5, 7, 9)
#: seed 002's ten-layer 3x3 cascade: the widths of each site's cascade.
CASCADE_FILTERS = ((16,), (20, 24), (28, 30, 32), (36, 38, 42, 48))


def check_widths(model, filters, rates):
    """The site names ``conv1``..``conv{n}`` after checking ``filters`` and ``rates`` pair up."""
    if len(filters) != len(rates) or not filters:
        raise ValueError(f"{model}: `filters` and `rates` must be non-empty and of equal "
                         f"length; received filters={filters!r}, rates={rates!r}.")
    return tuple(f"conv{i}" for i in range(1, len(filters) + 1))


def _check_forms(sites, kernel_sizes, cascade_filters):
    """``kernel_sizes`` (odd, one per site) and ``cascade_filters`` (a non-empty group per site)."""
    if len(kernel_sizes) != len(sites) or not all(
            isinstance(k, int) and k >= 1 and k % 2 for k in kernel_sizes):
        raise ValueError(f"dilated_vgg: `kernel_sizes` must be {len(sites)} odd positive ints, "
                         f"one per conv; received kernel_sizes={kernel_sizes!r}.")
    if len(cascade_filters) != len(sites) or not all(
            group and all(isinstance(w, int) and w >= 1 for w in group)
            for group in cascade_filters):
        raise ValueError(f"dilated_vgg: `cascade_filters` must be {len(sites)} non-empty groups "
                         f"of positive ints, one per conv; received "
                         f"cascade_filters={cascade_filters!r}.")


def _conv_bn_relu(x, plan, width, kernel_size, name, *, strides=1, dilation_rate=1, head=True):
    """Conv site ``name`` ("same") -> ``{name}_bn`` -> ``{name}_relu`` (``head=False``: the conv
    alone)."""
    x = plan.conv(x, width, kernel_size, strides=strides, padding="same",
                  dilation_rate=dilation_rate, name=name)
    if not head:
        return x
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def dilated_convs(x, plan, filters, rates, kernel_sizes=KERNEL_SIZES,
                  cascade_filters=CASCADE_FILTERS):
    """The conv stack: ``conv{i}`` (3x3 "same", dilation ``rates[i-1]``) -> ``conv{i}_bn`` ->
    ``conv{i}_relu``; a site the plan places as "strided" / "spd" downsamples by 2 instead,
    "large_kernel" takes ``kernel_sizes[i-1]``, "cascade" becomes the 3x3 convs
    ``conv{i}_{j}`` of widths ``cascade_filters[i-1]`` (see the module doc)."""
    for i, (width, rate) in enumerate(zip(filters, rates), start=1):
        site = f"conv{i}"
        form = plan.variant if plan.placed(site) else "original"
        if form == "cascade":
            last_site = i == len(filters)
            group = cascade_filters[i - 1]
            for j, group_width in enumerate(group, start=1):
                x = _conv_bn_relu(x, plan, group_width, 3, f"{site}_{j}",
                                  head=not (last_site and j == len(group)))
        elif form in ("strided", "spd"):
            x = _conv_bn_relu(x, plan, width, 3, site, strides=2)
        elif form == "large_kernel":
            x = _conv_bn_relu(x, plan, width, kernel_sizes[i - 1], site)
        else:
            x = _conv_bn_relu(x, plan, width, 3, site, dilation_rate=rate)
    return x


def dilated_vgg(input_shape=(32, 32, 3), num_classes=10, downsampling="original",
                placements=None, filters=FILTERS, rates=RATES,
                classifier_activation="softmax", gate_options=None, alpha=1.0,
                kernel_sizes=KERNEL_SIZES, cascade_filters=CASCADE_FILTERS, name=None):
    """Build the dilated VGG or one of the nets of its comparison (see the module doc).

    Args:
        downsampling: "original" (dilated, no downsampling), "strided", "large_kernel",
            "cascade", "spd" or "cas".
        placements: sites among ``conv1``..``conv{n}`` (see the module doc for the defaults).
        filters, rates: per-layer widths and dilation rates (equal lengths).
        alpha: width multiplier of ``filters`` and ``cascade_filters`` (``int(w * alpha)``, at
            least 1).
        kernel_sizes: per-layer kernels of "large_kernel"; cascade_filters: per-layer groups of
            3x3 widths of "cascade".
    """
    sites = check_widths("dilated_vgg", filters, rates)
    _check_forms(sites, kernel_sizes, cascade_filters)
    alpha = width_multiplier("dilated_vgg", alpha)
    plan = Downsampling("dilated_vgg", downsampling, placements, {
        "strided": (sites, sites[1:]),
        "spd": (sites, sites[1:]),
        "cas": (sites, (sites[0], sites[len(sites) // 2])),
        "large_kernel": (sites, sites),
        "cascade": (sites, sites),
    }, gate_options)
    inputs = image_input("dilated_vgg", input_shape)
    x = dilated_convs(inputs, plan, [scaled(w, alpha) for w in filters], rates, kernel_sizes,
                      [[scaled(w, alpha) for w in group] for group in cascade_filters])
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = classifier_top(x, classes("dilated_vgg", num_classes), classifier_activation)
    return keras.Model(inputs, x, name=name or f"dilated_vgg_{downsampling}")
