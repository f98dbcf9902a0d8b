"""YOLOX (Ge et al. 2021): CSPDarknet backbone, PAFPN neck, decoupled head; raw predictions.

Written from the architecture of the YOLOX reference (Megvii-BaseDetection/YOLOX,
``yolox/models``); the layer layout is the same, so weights port conv by conv:

- ``BaseConv`` = conv (no bias; PyTorch-style symmetric zero padding) -> BN (eps 1e-3,
  momentum 0.03 in torch terms) -> SiLU. A conv ``name`` has ``name_bn`` and ``name_act``.
- backbone: ``stem`` (Focus: space-to-depth in the YOLOX channel order, then a 3x3 BaseConv),
  ``dark2``..``dark5`` (a stride-2 3x3 ``dark{i}_conv``, then a CSP layer; dark5 has the SPP
  bottleneck, pools 5/9/13, before its CSP layer);
- neck (PAFPN): ``lateral_conv0``, ``C3_p4``, ``reduce_conv1``, ``C3_p3``, ``bu_conv2`` (stride 2),
  ``C3_n3``, ``bu_conv1`` (stride 2), ``C3_n4``;
- head, per level l in p3, p4, p5: ``head_{l}_stem`` (1x1), ``head_{l}_cls_conv{1,2}`` and
  ``head_{l}_reg_conv{1,2}`` (3x3), ``head_{l}_cls_pred``, ``head_{l}_reg_pred``,
  ``head_{l}_obj_pred`` (1x1 with bias).

Outputs: a dict ``{"p3": ..., "p4": ..., "p5": ...}`` of raw (training-form, undecoded) maps of
shape (N, H/s, W/s, 4 + 1 + num_classes) for strides s = 8, 16, 32: box regression, objectness
logit, class logits, in YOLOX's channel order.

Sites: the six stride-2 convs and the head's convs. Paper placements: CAS in the head stems and
the first classification conv of each level; SPD-Conv replaces the six stride-2 convs (as
YOLOv5-SPD). YOLOX has no downsampling pool (its SPP pools are stride 1): no PAS.
"""

import keras

from keras_adastride import _validation as check
from keras_adastride.layers import SpaceToDepth, SpatialPyramidPooling
from keras_adastride.models._common import OUTPUT_DTYPE, classes, image_input
from keras_adastride.models._downsampling import Downsampling
from keras_adastride.models.yolox.yolox_presets import (HEAD_CHANNELS, LEVEL_CHANNELS, LEVELS,
                                                        YOLOX_PRESETS)

STRIDED = ("dark2_conv", "dark3_conv", "dark4_conv", "dark5_conv", "bu_conv2", "bu_conv1")
HEAD_CONVS = tuple(f"head_{level}_{part}" for level in LEVELS for part in
                   ("stem", "cls_conv1", "cls_conv2", "reg_conv1", "reg_conv2"))
PAPER_CAS = tuple(f"head_{level}_{part}" for level in LEVELS for part in ("stem", "cls_conv1"))
BN = dict(epsilon=1e-3, momentum=0.97)


def yolox(input_shape=(640, 640, 3), num_classes=80, depth=0.33, width=0.50,
          downsampling="original", placements=None, gate_options=None, name=None):
    """Build YOLOX with depth / width multipliers (defaults: YOLOX-S).

    Args:
        input_shape: (H, W, C), H and W multiples of 32 (or None).
        num_classes: class logits per anchor point.
        depth, width: YOLOX's ``dep_mul`` and ``wid_mul``.
        downsampling: "original", "cas" or "spd"; placements, gate_options: see
            ``keras_adastride.models._downsampling``.
    """
    depth = check.positive_number("yolox", "depth", depth)
    width = check.positive_number("yolox", "width", width)
    num_classes = classes("yolox", num_classes)
    plan = Downsampling("yolox", downsampling, placements, {
        "cas": (STRIDED + HEAD_CONVS, PAPER_CAS),
        "spd": (STRIDED, STRIDED),
    }, gate_options)
    inputs = image_input("yolox", input_shape, min_size=32)
    if any(size is not None and size % 32 for size in tuple(input_shape)[:2]):
        raise ValueError(f"yolox: height and width of `input_shape` must be multiples of 32; "
                         f"received input_shape={input_shape!r}.")
    base = int(64 * width)
    base_depth = max(round(3 * depth), 1)
    block = _Blocks(plan)

    # backbone: CSPDarknet
    x = SpaceToDepth(2, channel_order="focus", name="stem_space_to_depth")(inputs)
    x = block.conv(x, base, 3, 1, "stem")
    x = block.conv(x, base * 2, 3, 2, "dark2_conv")
    x = block.csp(x, base * 2, base_depth, True, "dark2_csp")
    x = block.conv(x, base * 4, 3, 2, "dark3_conv")
    dark3 = block.csp(x, base * 4, base_depth * 3, True, "dark3_csp")
    x = block.conv(dark3, base * 8, 3, 2, "dark4_conv")
    dark4 = block.csp(x, base * 8, base_depth * 3, True, "dark4_csp")
    x = block.conv(dark4, base * 16, 3, 2, "dark5_conv")
    x = block.spp(x, base * 16, "dark5_spp")
    dark5 = block.csp(x, base * 16, base_depth, False, "dark5_csp")

    # neck: PAFPN
    c3, c4, c5 = (int(c * width) for c in LEVEL_CHANNELS)
    neck_depth = round(3 * depth)
    upsample = keras.layers.UpSampling2D

    fpn_out0 = block.conv(dark5, c4, 1, 1, "lateral_conv0")
    x = upsample(2, name="upsample0")(fpn_out0)
    x = keras.layers.Concatenate(name="concat_p4")([x, dark4])
    x = block.csp(x, c4, neck_depth, False, "C3_p4")
    fpn_out1 = block.conv(x, c3, 1, 1, "reduce_conv1")
    x = upsample(2, name="upsample1")(fpn_out1)
    x = keras.layers.Concatenate(name="concat_p3")([x, dark3])
    pan_out2 = block.csp(x, c3, neck_depth, False, "C3_p3")
    x = block.conv(pan_out2, c3, 3, 2, "bu_conv2")
    x = keras.layers.Concatenate(name="concat_n3")([x, fpn_out1])
    pan_out1 = block.csp(x, c4, neck_depth, False, "C3_n3")
    x = block.conv(pan_out1, c4, 3, 2, "bu_conv1")
    x = keras.layers.Concatenate(name="concat_n4")([x, fpn_out0])
    pan_out0 = block.csp(x, c5, neck_depth, False, "C3_n4")

    # head: decoupled, raw predictions per level
    head = int(HEAD_CHANNELS * width)
    outputs = {}
    for level, feature in zip(LEVELS, (pan_out2, pan_out1, pan_out0)):
        prefix = f"head_{level}"
        x = block.conv(feature, head, 1, 1, f"{prefix}_stem")
        cls = block.conv(x, head, 3, 1, f"{prefix}_cls_conv1")
        cls = block.conv(cls, head, 3, 1, f"{prefix}_cls_conv2")
        reg = block.conv(x, head, 3, 1, f"{prefix}_reg_conv1")
        reg = block.conv(reg, head, 3, 1, f"{prefix}_reg_conv2")
        predictions = [
            keras.layers.Conv2D(4, 1, name=f"{prefix}_reg_pred")(reg),
            keras.layers.Conv2D(1, 1, name=f"{prefix}_obj_pred")(reg),
            keras.layers.Conv2D(num_classes, 1, name=f"{prefix}_cls_pred")(cls),
        ]
        outputs[level] = keras.layers.Concatenate(name=level, dtype=OUTPUT_DTYPE)(predictions)
    return keras.Model(inputs, outputs, name=name or f"yolox_{downsampling}")


def yolox_s(input_shape=(640, 640, 3), num_classes=80, **kwargs):
    """YOLOX-S (depth 0.33, width 0.50): 8.97 M parameters at 80 classes. See :func:`yolox`
    (``depth`` / ``width`` given here override the preset's, e.g. a narrow net for tests)."""
    return yolox(input_shape, num_classes, **{**YOLOX_PRESETS["yolox_s"], **kwargs})


class _Blocks:
    """YOLOX's building blocks over one downsampling plan."""

    def __init__(self, plan):
        self.plan = plan

    def conv(self, x, filters, kernel, stride, name):
        """BaseConv: conv site ``name`` (padding (k-1)//2 each side) -> BN -> SiLU."""
        if stride > 1:
            x = self.plan.padded_conv(x, filters, kernel, pad=(kernel - 1) // 2, strides=stride,
                                      use_bias=False, name=name)
        else:
            x = self.plan.conv(x, filters, kernel, padding="same", use_bias=False, name=name)
        x = keras.layers.BatchNormalization(name=f"{name}_bn", **BN)(x)
        return keras.layers.Activation("silu", name=f"{name}_act")(x)

    def csp(self, x, filters, blocks, shortcut, name):
        """CSPLayer: two 1x1 halves, ``blocks`` bottlenecks on the first, concat, 1x1."""
        hidden = int(filters * 0.5)
        x1 = self.conv(x, hidden, 1, 1, f"{name}_conv1")
        x2 = self.conv(x, hidden, 1, 1, f"{name}_conv2")
        for i in range(1, blocks + 1):
            y = self.conv(x1, hidden, 1, 1, f"{name}_m{i}_conv1")
            y = self.conv(y, hidden, 3, 1, f"{name}_m{i}_conv2")
            x1 = keras.layers.Add(name=f"{name}_m{i}_add")([y, x1]) if shortcut else y
        x = keras.layers.Concatenate(name=f"{name}_concat")([x1, x2])
        return self.conv(x, filters, 1, 1, f"{name}_conv3")

    def spp(self, x, filters, name):
        """SPPBottleneck: 1x1 halving, max pools 5/9/13 (stride 1, same), concat, 1x1."""
        x = self.conv(x, x.shape[-1] // 2, 1, 1, f"{name}_conv1")
        x = SpatialPyramidPooling((5, 9, 13), name=f"{name}_pool")(x)  # [x, pool5, pool9, pool13]
        return self.conv(x, filters, 1, 1, f"{name}_conv2")
