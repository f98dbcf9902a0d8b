"""VGG (Simonyan & Zisserman 2015) and a small CIFAR-size VGG, with a downsampling switch.

Layout as keras.applications.VGG16: blocks of 3x3 "same" ReLU convs ``block{b}_conv{i}``, each
block closed by a 2x2 max pool ``block{b}_pool``; top: ``flatten``, ``fc1``, ``fc2`` (ReLU), and
``predictions``. Sites: every conv and pool. Paper placements: CAS at the front
(``block1_conv1``) and the middle (first conv of the middle block), PAS at the second pooling
layer (``block2_pool``); SPD-Conv replaces every pool.
"""

import keras

from keras_adastride.models._common import (classes, classifier_top, global_pooling, image_input,
                                            scaled, width_multiplier)
from keras_adastride.models._downsampling import Downsampling
from keras_adastride.models.vgg.vgg_presets import VGG_PRESETS


def vgg_sites(blocks):
    """``(conv sites, pool sites, CAS default, PAS default)`` of a VGG with ``blocks``."""
    convs = [f"block{b}_conv{i}" for b, widths in enumerate(blocks, 1)
             for i in range(1, len(widths) + 1)]
    pools = [f"block{b}_pool" for b in range(1, len(blocks) + 1)]
    middle = f"block{len(blocks) // 2 + 1}_conv1"
    return convs, pools, ("block1_conv1", middle), ("block2_pool",)


def vgg(preset, input_shape=None, num_classes=None, include_top=True, downsampling="original",
        placements=None, pooling=None, classifier_activation="softmax", gate_options=None,
        alpha=1.0, name=None):
    """Build the VGG ``preset`` ("vgg11", "vgg16", "small_vgg"; see ``VGG_PRESETS``).

    Args:
        input_shape: (H, W, C); default the preset's (224x224x3, or 32x32x3 for small_vgg).
        num_classes: default the preset's (1000, or 10).
        include_top: add flatten, the dense layers and ``predictions``.
        downsampling: "original", "cas", "pas" or "spd" (see ``models._downsampling``).
        placements: sites to replace (None: the paper's; "all"; or a list of site names).
        pooling: with ``include_top=False``: None, "avg" or "max".
        classifier_activation: "softmax" or None (logits).
        gate_options: extra CAS/PAS arguments (``gate_width``, ``gate_activation``, ...).
        alpha: width multiplier: every conv and hidden dense layer has ``int(width * alpha)``
            units (at least 1); 1 is the published network.
    """
    if preset not in VGG_PRESETS:
        raise ValueError(f"vgg: argument `preset` must be one of {sorted(VGG_PRESETS)}; "
                         f"received preset={preset!r}.")
    config = VGG_PRESETS[preset]
    alpha = width_multiplier(preset, alpha)
    blocks = config["blocks"]
    input_shape = config["default_input_shape"] if input_shape is None else input_shape
    num_classes = config["default_classes"] if num_classes is None else num_classes
    convs, pools, cas_default, pas_default = vgg_sites(blocks)
    plan = Downsampling(preset, downsampling, placements, {
        "cas": (convs + pools, cas_default),
        "pas": (pools, pas_default),
        "spd": (pools, pools),
    }, gate_options)
    inputs = image_input(preset, input_shape, min_size=2 ** len(blocks) if include_top else 1)
    x = inputs
    for b, widths in enumerate(blocks, 1):
        for i, filters in enumerate(widths, 1):
            x = plan.conv(x, scaled(filters, alpha), 3, padding="same", activation="relu",
                          name=f"block{b}_conv{i}")
        x = plan.pool(x, 2, name=f"block{b}_pool")
    if include_top:
        x = keras.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(config["dense"], 1):
            x = keras.layers.Dense(scaled(units, alpha), activation="relu", name=f"fc{i}")(x)
            if config["dropout"]:
                x = keras.layers.Dropout(config["dropout"], name=f"fc{i}_dropout")(x)
        x = classifier_top(x, classes(preset, num_classes), classifier_activation)
    else:
        x = global_pooling(x, pooling)
    return keras.Model(inputs, x, name=name or f"{preset}_{downsampling}")


def vgg16(input_shape=(224, 224, 3), num_classes=1000, **kwargs):
    """VGG16 (configuration D), as keras.applications.VGG16. See :func:`vgg` for the arguments."""
    return vgg("vgg16", input_shape, num_classes, **kwargs)


def vgg11(input_shape=(224, 224, 3), num_classes=1000, **kwargs):
    """VGG11 (configuration A). See :func:`vgg` for the arguments."""
    return vgg("vgg11", input_shape, num_classes, **kwargs)


def small_vgg(input_shape=(32, 32, 3), num_classes=10, **kwargs):
    """A CIFAR-size VGG: blocks of (32, 32), (64, 64), (128, 128) filters, 256-unit dense top with
    dropout 0.5. Works at 28x28x1 (Fashion-MNIST) too. See :func:`vgg` for the arguments."""
    return vgg("small_vgg", input_shape, num_classes, **kwargs)
