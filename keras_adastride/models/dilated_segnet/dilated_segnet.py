"""The no-downsampling segmentation net of seed 002: the dilated VGG with its global pooling and
dense top replaced by a 1x1 conv, so every layer keeps the input resolution.

Layers ``conv{i}`` (3x3 "same", dilation 1, 2, 4, 8) -> ``conv{i}_bn`` -> ``conv{i}_relu`` with
16, 24, 32, 48 filters (the stack of :func:`keras_adastride.models.dilated_vgg`; receptive field
1 + 2·(1+2+4+8) = 31 pixels), then the 1x1 conv ``segmentation``: (N, H, W, num_classes)
per-pixel class probabilities at full resolution. 25,235 trainable parameters at 1 input channel /
11 classes (M2NIST: background + 10 digits); Keras adds 240 BN moving statistics.

No site downsamples, so any H and W work. Variants: "original" and "cas" (CAS with stride 1, the
paper's pure form, at the front and middle, ``conv1`` and ``conv3``, dilation kept). "strided",
"spd" and "pas" would downsample (or have no pool to replace) and are not offered.
"""

import keras

from keras_adastride.models._common import OUTPUT_DTYPE, classes, image_input
from keras_adastride.models._downsampling import Downsampling
from keras_adastride.models.dilated_vgg.dilated_vgg import (FILTERS, RATES, check_widths,
                                                            dilated_convs)


def dilated_segnet(input_shape=(64, 84, 1), num_classes=11, downsampling="original",
                   placements=None, filters=FILTERS, rates=RATES, activation="softmax",
                   gate_options=None, name=None):
    """Build the no-downsampling segmentation net.

    Args:
        input_shape: (H, W, C), any H and W (or None); default M2NIST's 64x84 canvases.
        num_classes: channels of the output map ``segmentation`` (background included).
        downsampling: "original" (dilated convs only) or "cas".
        placements: sites among ``conv1``..``conv{n}`` (default ``conv1`` and the middle one).
        filters, rates: per-layer widths and dilation rates (equal lengths).
        activation: of the output ("softmax", or None for logits).
    """
    sites = check_widths("dilated_segnet", filters, rates)
    plan = Downsampling("dilated_segnet", downsampling, placements, {
        "cas": (sites, (sites[0], sites[len(sites) // 2])),
    }, gate_options)
    inputs = image_input("dilated_segnet", input_shape)
    x = dilated_convs(inputs, plan, filters, rates)
    outputs = keras.layers.Conv2D(classes("dilated_segnet", num_classes), 1, activation=activation,
                                  name="segmentation", dtype=OUTPUT_DTYPE)(x)
    return keras.Model(inputs, outputs, name=name or f"dilated_segnet_{downsampling}")
