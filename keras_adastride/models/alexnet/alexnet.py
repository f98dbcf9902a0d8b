"""AlexNet (torchvision layout) and its small-image version, with a downsampling switch.

Layers: ``conv{i}_pad`` (zero padding) + ``conv{i}`` (ReLU; with the preset's ``batch_norm``:
no activation, then ``conv{i}_bn`` and ``conv{i}_relu``) for i = 1..5, max pools ``pool1``
(after conv1), ``pool2`` (after conv2), ``pool3`` (after conv5), ``avg_pool`` (adaptive, to 6x6),
``flatten``, ``fc1_dropout``, ``fc1``, ``fc2_dropout``, ``fc2``, ``predictions``. Sites: every
conv and pool. Paper placements: CAS at the front (``conv1``) and in the middle (``conv3``), PAS
at the second pooling layer (``pool2``); SPD-Conv replaces the strided conv1 and the pools.
"""

import keras

from keras_adastride.models._common import (classes, classifier_top, global_pooling, image_input,
                                            scaled, width_multiplier)
from keras_adastride.models._downsampling import Downsampling
from keras_adastride.models.alexnet.alexnet_presets import ALEXNET_PRESETS

POOL_AFTER = {1: "pool1", 2: "pool2", 5: "pool3"}


def alexnet(input_shape=(224, 224, 3), num_classes=1000, include_top=True,
            downsampling="original", placements=None, preset="auto", pooling=None,
            classifier_activation="softmax", gate_options=None, alpha=1.0, name=None):
    """Build AlexNet.

    Args:
        input_shape: (H, W, C).
        preset: "torchvision" (61,100,840 parameters at 224x224x3 / 1000), "small" (for 28x28 or
            32x32 inputs), "small_tricks" ("small" with batch normalization after every conv:
            "AlexNet with the usual tricks"), or "auto": "torchvision" when H and W are at least
            95 (or unknown), else "small" (see ``alexnet_presets``).
        downsampling, placements, gate_options: see ``keras_adastride.models._downsampling``.
        include_top, pooling, classifier_activation: as keras.applications.
        alpha: width multiplier: every conv and hidden dense layer has ``int(width * alpha)``
            units (at least 1); 1 is the preset as published.
    """
    if preset == "auto":
        sizes = [s for s in tuple(input_shape)[:2] if s is not None]
        large = ALEXNET_PRESETS["torchvision"]["min_size"]
        preset = "torchvision" if all(s >= large for s in sizes) else "small"
    if preset not in ALEXNET_PRESETS:
        raise ValueError(f"alexnet: argument `preset` must be 'auto' or one of "
                         f"{sorted(ALEXNET_PRESETS)}; received preset={preset!r}.")
    config = ALEXNET_PRESETS[preset]
    alpha = width_multiplier("alexnet", alpha)
    convs = [f"conv{i}" for i in range(1, 6)]
    pools = list(POOL_AFTER.values())
    strided = [f"conv{i}" for i, c in enumerate(config["convs"], 1) if c[2] > 1]
    plan = Downsampling("alexnet", downsampling, placements, {
        "cas": (convs + pools, ("conv1", "conv3")),
        "pas": (pools, ("pool2",)),
        "spd": (strided + pools, strided + pools),
    }, gate_options)
    inputs = image_input("alexnet", input_shape, min_size=config["min_size"])
    x = inputs
    size, stride, padding = config["pool"]
    batch_norm = config["batch_norm"]
    for i, (filters, kernel, conv_stride, pad) in enumerate(config["convs"], 1):
        x = plan.padded_conv(x, scaled(filters, alpha), kernel, pad=pad, strides=conv_stride,
                             activation=None if batch_norm else "relu", name=f"conv{i}")
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"conv{i}_bn")(x)
            x = keras.layers.Activation("relu", name=f"conv{i}_relu")(x)
        if i in POOL_AFTER:
            x = plan.pool(x, size, strides=stride, padding=padding, name=POOL_AFTER[i])
    if include_top:
        if config["pooled"]:
            x = keras.layers.AdaptiveAveragePooling2D(config["pooled"], name="avg_pool")(x)
        x = keras.layers.Flatten(name="flatten")(x)
        for i, units in enumerate(config["dense"], 1):
            x = keras.layers.Dropout(config["dropout"], name=f"fc{i}_dropout")(x)
            x = keras.layers.Dense(scaled(units, alpha), activation="relu", name=f"fc{i}")(x)
        x = classifier_top(x, classes("alexnet", num_classes), classifier_activation)
    else:
        x = global_pooling(x, pooling)
    return keras.Model(inputs, x, name=name or f"alexnet_{downsampling}")
