"""YOLOX sizes as data: (depth multiplier, width multiplier), as the YOLOX exps/default files."""

YOLOX_PRESETS = {
    "yolox_s": dict(depth=0.33, width=0.50),  # 8.97 M parameters (torch count), 26.8 GFLOPs at 640
    "yolox_m": dict(depth=0.67, width=0.75),
    "yolox_l": dict(depth=1.00, width=1.00),
}
#: channels of the three pyramid levels (P3, P4, P5) at width 1, and the head width
LEVEL_CHANNELS = (256, 512, 1024)
HEAD_CHANNELS = 256
LEVELS = ("p3", "p4", "p5")  # strides 8, 16, 32
