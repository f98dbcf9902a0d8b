"""Anchor points of YOLOX's three levels and the decoding of raw box maps.

A level of stride ``s`` on an (H, W) image has an (H/s, W/s) grid; the anchor point of cell
(row i, column j) is ``g = (j, i)``. A raw box prediction ``(tx, ty, tw, th)`` decodes as YOLOX
decodes it (``yolox/models/yolo_head.py``, ``decode_outputs``):

    cx = (tx + gx) · s,   cy = (ty + gy) · s,   w = exp(tw) · s,   h = exp(th) · s

and is returned as ``xyxy`` pixels. ``tw, th`` are capped at ``MAX_LOG_SIZE`` before ``exp``
(an untrained head can emit large values; exp of them would be inf and the IoU NaN).
"""

import numpy as np
from keras import ops

LEVELS = ("p3", "p4", "p5")
STRIDES = (8, 16, 32)
#: cap of the log-size predictions: exp(10) · 32 px is far beyond any canvas
MAX_LOG_SIZE = 10.0


def check_canvas_size(what, canvas_size):
    """``(height, width)`` from an int or a pair, each a positive multiple of 32, else ValueError."""
    size = (canvas_size, canvas_size) if np.isscalar(canvas_size) else tuple(canvas_size)
    if (len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 32 and v % 32 == 0
                                  for v in size)):
        raise ValueError(f"{what}: `canvas_size` must be a multiple of 32 (>= 32), or a pair of "
                         f"them (YOLOX's coarsest level has stride 32); received "
                         f"canvas_size={canvas_size!r}.")
    return int(size[0]), int(size[1])


def anchor_points(canvas_size, strides=STRIDES):
    """``(grid, stride)``: float32 arrays (A, 2) of cell indices (gx, gy) and (A,) of strides,
    levels in order, each level row-major (the order of :func:`flatten_levels`)."""
    height, width = check_canvas_size("anchor_points", canvas_size)
    grids, level_strides = [], []
    for s in strides:
        gy, gx = np.meshgrid(np.arange(height // s), np.arange(width // s), indexing="ij")
        grids.append(np.stack([gx.ravel(), gy.ravel()], axis=-1))
        level_strides.append(np.full(gx.size, s))
    return (np.concatenate(grids).astype(np.float32),
            np.concatenate(level_strides).astype(np.float32))


def flatten_levels(outputs, levels=LEVELS):
    """``{"p3": (B, h, w, K), ...}`` -> (B, A, K), levels in ``levels`` order, rows major."""
    flat = [ops.reshape(outputs[level], (ops.shape(outputs[level])[0], -1,
                                         outputs[level].shape[-1])) for level in levels]
    return ops.concatenate(flat, axis=1)


def decode_boxes(raw_boxes, grid, stride):
    """Raw (…, A, 4) predictions -> (…, A, 4) ``xyxy`` pixel boxes (formula in the module doc)."""
    stride = ops.expand_dims(ops.convert_to_tensor(stride, raw_boxes.dtype), -1)
    grid = ops.convert_to_tensor(grid, raw_boxes.dtype)
    center = (raw_boxes[..., :2] + grid) * stride
    size = ops.exp(ops.minimum(raw_boxes[..., 2:], MAX_LOG_SIZE)) * stride
    return ops.concatenate([center - size / 2, center + size / 2], axis=-1)

