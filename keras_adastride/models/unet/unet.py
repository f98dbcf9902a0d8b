"""U-Net (Ronneberger et al. 2015) with "same" padding, a width argument and a downsampling switch.

Contracting path: levels 1-4 of two 3x3 ReLU convs ``enc{l}_conv{1,2}`` (``base_filters·2^(l-1)``
filters) each followed by the 2x2 max pool ``down{l}``; ``bottleneck_conv{1,2}``
(``16·base_filters``); expanding path: ``up{l}`` (2x2 stride-2 transposed conv halving the
channels), ``concat{l}`` with ``enc{l}_conv2``, ``dec{l}_conv{1,2}``; then the 1x1 conv
``segmentation`` (per-pixel class probabilities). 31,030,658 parameters at base 64 / 2 classes.
Sites: the four pools. Paper placement: CAS (and PAS) at the second-level downsampling ``down2``;
SPD-Conv replaces every pool.
"""

import keras

from keras_adastride.models._common import OUTPUT_DTYPE, classes, image_input
from keras_adastride.models._downsampling import Downsampling
from keras_adastride import _validation as check

LEVELS = 4
DOWN_SITES = tuple(f"down{level}" for level in range(1, LEVELS + 1))


def unet(input_shape=(256, 256, 1), num_classes=2, base_filters=64, downsampling="original",
         placements=None, activation="softmax", gate_options=None, name=None):
    """Build a U-Net.

    Args:
        input_shape: (H, W, C); H and W multiples of 16 (or None).
        num_classes: channels of the output map ``segmentation``, shape (N, H, W, num_classes).
        base_filters: width of level 1 (64 in the paper; 8 gives a tiny U-Net).
        downsampling: "original" (max pools), "cas", "pas" or "spd".
        placements, gate_options: see ``keras_adastride.models._downsampling``.
        activation: of the output ("softmax", or None for logits).
    """
    base_filters = check.positive_int("unet", "base_filters", base_filters)
    plan = Downsampling("unet", downsampling, placements, {
        "cas": (DOWN_SITES, ("down2",)),
        "pas": (DOWN_SITES, ("down2",)),
        "spd": (DOWN_SITES, DOWN_SITES),
    }, gate_options)
    inputs = image_input("unet", input_shape, min_size=16)
    if any(size is not None and size % 2**LEVELS for size in tuple(input_shape)[:2]):
        raise ValueError(f"unet: height and width of `input_shape` must be multiples of "
                         f"{2**LEVELS}; received input_shape={input_shape!r}.")

    def double_conv(x, filters, prefix):
        for i in (1, 2):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu",
                                    name=f"{prefix}_conv{i}")(x)
        return x

    x, skips = inputs, []
    for level in range(1, LEVELS + 1):
        x = double_conv(x, base_filters * 2 ** (level - 1), f"enc{level}")
        skips.append(x)
        x = plan.pool(x, 2, name=f"down{level}")
    x = double_conv(x, base_filters * 2**LEVELS, "bottleneck")
    for level in range(LEVELS, 0, -1):
        filters = base_filters * 2 ** (level - 1)
        x = keras.layers.Conv2DTranspose(filters, 2, strides=2, name=f"up{level}")(x)
        x = keras.layers.Concatenate(name=f"concat{level}")([skips[level - 1], x])
        x = double_conv(x, filters, f"dec{level}")
    outputs = keras.layers.Conv2D(classes("unet", num_classes), 1, activation=activation,
                                  name="segmentation", dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name=name or f"unet_{downsampling}")
