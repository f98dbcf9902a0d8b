"""ResNet-18 (torchvision layout) and ResNet-50 (keras.applications layout), with a
downsampling switch.

Layer names follow keras.applications.ResNet50: ``conv1_pad``/``conv1_conv``/``conv1_bn``/
``conv1_relu``, ``pool1_pad``/``pool1_pool`` (3x3 stride-2 max pool), stages ``conv2``..``conv5``
of blocks ``conv{s}_block{b}`` with convs ``_1_conv``, ``_2_conv`` (``_3_conv`` in bottlenecks),
shortcut ``_0_conv``, ``_add``, ``_out``; top ``avg_pool``, ``predictions``.

Sites: every conv and ``pool1_pool``. Placements by default: CAS at the front (``conv1_conv``) and
in the middle (``conv4_block1_2_conv`` in ResNet-50, ``conv4_block1_1_conv`` in ResNet-18), PAS at
the only pool ``pool1_pool``.

SPD-Conv follows the SPD-Conv paper's ResNet-SPD (LabSAINT/SPD-Conv): the stem conv becomes
Focus-style space-to-depth + a 1x1 conv; in each downsampling block (site: the conv that carries
the stride, ``conv{3,4,5}_block1_1_conv``) the strided conv runs at stride 1 and a
``{block}_space_to_depth`` follows the block's 3x3 conv, so its BN sees 4x the channels and the
next conv reads them (ResNet-18: ``3x3 -> SPD -> BN -> ReLU -> 3x3``; ResNet-50:
``1x1 -> 3x3 -> SPD -> BN -> ReLU -> 1x1``). The strided 1x1 shortcuts stay, as in the paper
(``placements="all"`` makes them SPD + 1x1 too). The paper drops the max pool (its inputs are
64x64); here ``pool1_pool`` becomes SPD + a 1x1 conv initialised as 2x2 average pooling, so the
network keeps its overall stride of 32.

"dilated" is seed 002's ResNet without downsampling in the stages: at each placed site (default
the three strided blocks, ``conv{3,4,5}_block1_1_conv``) the stage runs at stride 1 (its
shortcut too) and every 3x3 conv from that stage on has twice the previous dilation (2, 4, 8),
so the receptive field still grows; the stem and ``pool1_pool`` keep their stride 4. Same
parameters as the original; the last stage sees 8x the resolution (64x the positions).
"""

import keras

from keras_adastride.layers import SpaceToDepth, SpaceToDepthConv
from keras_adastride.models._common import (classes, classifier_top, global_pooling, image_input,
                                            scaled, width_multiplier)
from keras_adastride.models._downsampling import Downsampling
from keras_adastride.models.resnet.resnet_presets import RESNET_PRESETS


def _block_convs(config):
    """``(every conv site, strided main-path sites, strided shortcut sites)`` of a preset."""
    convs, strided, shortcuts = ["conv1_conv"], ["conv1_conv"], []
    per_block = 2 if config["block"] == "basic" else 3
    for s, blocks in enumerate(config["stages"], 2):
        for b in range(1, blocks + 1):
            name = f"conv{s}_block{b}"
            if b == 1 and (s > 2 or config["block"] == "bottleneck"):
                convs.append(f"{name}_0_conv")
                if s > 2:
                    shortcuts.append(f"{name}_0_conv")
            convs += [f"{name}_{i}_conv" for i in range(1, per_block + 1)]
            if b == 1 and s > 2:
                strided.append(f"{name}_1_conv")
    return convs, strided, shortcuts


def resnet(preset, input_shape=(224, 224, 3), num_classes=1000, include_top=True,
           downsampling="original", placements=None, pooling=None,
           classifier_activation="softmax", gate_options=None, alpha=1.0, name=None):
    """Build the ResNet ``preset`` ("resnet18" or "resnet50"; see ``RESNET_PRESETS``).

    Args: as keras.applications.ResNet50, plus ``downsampling`` ("original", "cas", "pas",
    "spd", "dilated"), ``placements`` and ``gate_options`` (see
    ``keras_adastride.models._downsampling``), and ``alpha``, the width multiplier (stem and stage
    widths ``int(width * alpha)``, at least 1).
    """
    if preset not in RESNET_PRESETS:
        raise ValueError(f"resnet: argument `preset` must be one of {sorted(RESNET_PRESETS)}; "
                         f"received preset={preset!r}.")
    config = RESNET_PRESETS[preset]
    alpha = width_multiplier(preset, alpha)
    stem = scaled(64, alpha)
    convs, strided, shortcuts = _block_convs(config)
    middle = "conv4_block1_1_conv" if config["block"] == "basic" else "conv4_block1_2_conv"
    plan = Downsampling(preset, downsampling, placements, {
        "cas": (convs + ["pool1_pool"], ("conv1_conv", middle)),
        "pas": (("pool1_pool",), ("pool1_pool",)),
        "spd": (strided + shortcuts + ["pool1_pool"], strided + ["pool1_pool"]),
        "dilated": (strided[1:], strided[1:]),
    }, gate_options)
    inputs = image_input(preset, input_shape, min_size=32 if include_top else 1)
    bn = dict(epsilon=config["epsilon"])
    conv = dict(use_bias=config["conv_bias"])
    if plan.placed("conv1_conv") and plan.variant == "spd":  # the paper's Focus stem
        x = SpaceToDepthConv(stem, 1, pad_to_multiple=True, name="conv1_conv", **conv)(inputs)
    else:
        x = plan.padded_conv(inputs, stem, 7, pad=3, strides=2, name="conv1_conv", **conv)
    x = keras.layers.BatchNormalization(name="conv1_bn", **bn)(x)
    x = keras.layers.Activation("relu", name="conv1_relu")(x)
    if not (plan.placed("pool1_pool") and plan.variant == "spd"):
        x = keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = plan.pool(x, 3, strides=2, name="pool1_pool")
    block = _basic_block if config["block"] == "basic" else _bottleneck_block
    dilation = 1
    for s, (blocks, width) in enumerate(zip(config["stages"], config["widths"]), 2):
        for b in range(1, blocks + 1):
            stride = 2 if b == 1 and s > 2 else 1
            if stride > 1 and plan.variant == "dilated" and plan.placed(f"conv{s}_block1_1_conv"):
                stride, dilation = 1, 2 * dilation
            x = block(x, plan, scaled(width, alpha), stride, b == 1, f"conv{s}_block{b}", bn,
                      conv, dilation)
    if include_top:
        x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = classifier_top(x, classes(preset, num_classes), classifier_activation)
    else:
        x = global_pooling(x, pooling)
    return keras.Model(inputs, x, name=name or f"{preset}_{downsampling}")


def _spd_block(plan, stride, name):
    """Whether this block takes the SPD-Conv paper's form (stride-1 convs, then SPD)."""
    return stride > 1 and plan.variant == "spd" and plan.placed(f"{name}_1_conv")


def _space_to_depth(y, name):
    return SpaceToDepth(2, pad_to_multiple=True, name=f"{name}_space_to_depth")(y)


def _shortcut(x, plan, filters, stride, name, bn, conv):
    x = plan.conv(x, filters, 1, strides=stride, name=f"{name}_0_conv", **conv)
    return keras.layers.BatchNormalization(name=f"{name}_0_bn", **bn)(x)


def _basic_block(x, plan, width, stride, first, name, bn, conv, dilation=1):
    """torchvision BasicBlock: 3x3 (stride) -> BN -> ReLU -> 3x3 -> BN, + shortcut, ReLU;
    ``dilation``: of the stride-1 3x3 convs."""
    needs_projection = stride > 1 or x.shape[-1] != width
    shortcut = _shortcut(x, plan, width, stride, name, bn, conv) if needs_projection else x
    if _spd_block(plan, stride, name):
        y = keras.layers.Conv2D(width, 3, padding="same", name=f"{name}_1_conv", **conv)(x)
        y = _space_to_depth(y, name)
    elif stride > 1:
        y = plan.padded_conv(x, width, 3, pad=1, strides=stride, name=f"{name}_1_conv", **conv)
    else:
        y = plan.conv(x, width, 3, padding="same", dilation_rate=dilation, name=f"{name}_1_conv",
                      **conv)
    y = keras.layers.BatchNormalization(name=f"{name}_1_bn", **bn)(y)
    y = keras.layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = plan.conv(y, width, 3, padding="same", dilation_rate=dilation, name=f"{name}_2_conv",
                  **conv)
    y = keras.layers.BatchNormalization(name=f"{name}_2_bn", **bn)(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


def _bottleneck_block(x, plan, width, stride, first, name, bn, conv, dilation=1):
    """keras.applications v1 bottleneck: 1x1 (stride) -> 3x3 -> 1x1 (4x width), + shortcut;
    ``dilation``: of the 3x3 conv."""
    shortcut = _shortcut(x, plan, 4 * width, stride, name, bn, conv) if first else x
    spd = _spd_block(plan, stride, name)
    if spd:
        y = keras.layers.Conv2D(width, 1, name=f"{name}_1_conv", **conv)(x)
    else:
        y = plan.conv(x, width, 1, strides=stride, name=f"{name}_1_conv", **conv)
    y = keras.layers.BatchNormalization(name=f"{name}_1_bn", **bn)(y)
    y = keras.layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = plan.conv(y, width, 3, padding="same", dilation_rate=dilation, name=f"{name}_2_conv",
                  **conv)
    if spd:
        y = _space_to_depth(y, name)
    y = keras.layers.BatchNormalization(name=f"{name}_2_bn", **bn)(y)
    y = keras.layers.Activation("relu", name=f"{name}_2_relu")(y)
    y = plan.conv(y, 4 * width, 1, name=f"{name}_3_conv", **conv)
    y = keras.layers.BatchNormalization(name=f"{name}_3_bn", **bn)(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


def resnet18(input_shape=(224, 224, 3), num_classes=1000, **kwargs):
    """ResNet-18 as torchvision (11,689,512 trainable parameters). See :func:`resnet`."""
    return resnet("resnet18", input_shape, num_classes, **kwargs)


def resnet50(input_shape=(224, 224, 3), num_classes=1000, **kwargs):
    """ResNet-50 as keras.applications.ResNet50 (25,636,712 parameters). See :func:`resnet`."""
    return resnet("resnet50", input_shape, num_classes, **kwargs)
