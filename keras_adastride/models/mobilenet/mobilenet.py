"""MobileNet v1 (Howard et al. 2017), layer for layer keras.applications.MobileNet.

Layers: ``conv1`` (3x3 stride 2) + ``conv1_bn`` + ``conv1_relu`` (ReLU6); blocks i = 1..13 of
``conv_pad_i`` (stride-2 blocks only), ``conv_dw_i`` (3x3 depthwise), ``conv_dw_i_bn``,
``conv_dw_i_relu``, ``conv_pw_i`` (1x1), ``conv_pw_i_bn``, ``conv_pw_i_relu``; top: global average
pooling, ``dropout``, ``conv_preds`` (1x1), ``reshape_2``, ``predictions``. 4,253,864 parameters at
alpha 1 / 1000 classes.

Sites: ``conv1``, every ``conv_dw_i`` and ``conv_pw_i``. The network has no pooling layer, so PAS
is not offered. Paper placements: CAS at the front (``conv1``) and in the middle (``conv_dw_7``; a
depthwise site becomes a CAS with ``groups`` = channels). SPD-Conv replaces the five stride-2
convs (``conv1``, ``conv_dw_{2,4,6,12}``): a strided depthwise site becomes
``conv_dw_i_space_to_depth`` + a stride-1 depthwise conv on the 4x channels.
"""

import keras

from keras_adastride import _validation as check
from keras_adastride.layers import SpaceToDepth
from keras_adastride.models._common import (OUTPUT_DTYPE, classes, global_pooling, image_input,
                                            width_multiplier)
from keras_adastride.models._downsampling import Downsampling, depthwise_cas
from keras_adastride.models.mobilenet.mobilenet_presets import MOBILENET_BLOCKS, STEM_FILTERS

STRIDED = ("conv1",) + tuple(
    f"conv_dw_{i}" for i, (_, stride) in enumerate(MOBILENET_BLOCKS, 1) if stride > 1
)


def mobilenet(input_shape=(224, 224, 3), num_classes=1000, alpha=1.0, depth_multiplier=1,
              dropout=1e-3, include_top=True, downsampling="original", placements=None,
              pooling=None, classifier_activation="softmax", gate_options=None, name=None):
    """Build MobileNet v1.

    Args:
        alpha: width multiplier (every layer has ``int(filters * alpha)`` filters).
        depth_multiplier: of the depthwise convs.
        dropout: rate before ``conv_preds``.
        downsampling: "original", "cas" or "spd" (no "pas": MobileNet does not pool).
        placements, gate_options: see ``keras_adastride.models._downsampling``.
        include_top, pooling, classifier_activation: as keras.applications.MobileNet.
    """
    alpha = width_multiplier("mobilenet", alpha)
    depth_multiplier = check.positive_int("mobilenet", "depth_multiplier", depth_multiplier)
    dw_sites = [f"conv_dw_{i}" for i in range(1, len(MOBILENET_BLOCKS) + 1)]
    pw_sites = [f"conv_pw_{i}" for i in range(1, len(MOBILENET_BLOCKS) + 1)]
    plan = Downsampling("mobilenet", downsampling, placements, {
        "cas": (["conv1"] + dw_sites + pw_sites, ("conv1", "conv_dw_7")),
        "spd": (STRIDED, STRIDED),
    }, gate_options)
    inputs = image_input("mobilenet", input_shape, min_size=32 if include_top else 1)
    x = plan.conv(inputs, int(STEM_FILTERS * alpha), 3, strides=2, padding="same",
                  use_bias=False, name="conv1")
    x = keras.layers.BatchNormalization(name="conv1_bn")(x)
    x = keras.layers.ReLU(6.0, name="conv1_relu")(x)
    for i, (filters, stride) in enumerate(MOBILENET_BLOCKS, 1):
        x = _depthwise(x, plan, f"conv_dw_{i}", stride, depth_multiplier, i)
        x = keras.layers.BatchNormalization(name=f"conv_dw_{i}_bn")(x)
        x = keras.layers.ReLU(6.0, name=f"conv_dw_{i}_relu")(x)
        x = plan.conv(x, int(filters * alpha), 1, padding="same", use_bias=False,
                      name=f"conv_pw_{i}")
        x = keras.layers.BatchNormalization(name=f"conv_pw_{i}_bn")(x)
        x = keras.layers.ReLU(6.0, name=f"conv_pw_{i}_relu")(x)
    if include_top:
        num_classes = classes("mobilenet", num_classes)
        x = keras.layers.GlobalAveragePooling2D(keepdims=True, name="global_average_pooling")(x)
        x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = keras.layers.Conv2D(num_classes, 1, padding="same", name="conv_preds")(x)
        x = keras.layers.Reshape((num_classes,), name="reshape_2")(x)
        x = keras.layers.Activation(classifier_activation, name="predictions",
                                    dtype=OUTPUT_DTYPE)(x)
    else:
        x = global_pooling(x, pooling)
    return keras.Model(inputs, x, name=name or f"mobilenet_{downsampling}")


def _depthwise(x, plan, site, stride, depth_multiplier, block):
    """Depthwise site: DepthwiseConv2D (stride 2: after ``conv_pad_i``), CAS, or SPD + depthwise."""
    channels = x.shape[-1]
    if plan.placed(site) and plan.variant == "spd":
        x = SpaceToDepth(stride, pad_to_multiple=True, name=f"{site}_space_to_depth")(x)
        return keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=depth_multiplier,
                                            use_bias=False, name=site)(x)
    if stride > 1:
        x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block}")(x)
    padding = "same" if stride == 1 else "valid"
    if plan.placed(site) and plan.variant == "cas":
        return depthwise_cas(channels, 3, depth_multiplier=depth_multiplier, strides=stride,
                             padding=padding, use_bias=False, name=site,
                             gate_options=plan.gate_options)(x)
    return keras.layers.DepthwiseConv2D(3, strides=stride, padding=padding,
                                        depth_multiplier=depth_multiplier, use_bias=False,
                                        name=site)(x)
