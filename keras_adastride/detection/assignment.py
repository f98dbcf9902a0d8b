"""SimOTA, YOLOX's label assignment, batched and dense (fixed shapes: graph- and XLA-friendly).

Written from YOLOX's ``get_assignments`` / ``get_in_boxes_info`` / ``dynamic_k_matching``
(``yolox/models/yolo_head.py``, commit 02aecba), over a batch with ground truths padded to G
(class id -1 = padding). For ground truth g and anchor a with point centre
``c_a = (grid_a + 0.5) · s_a``:

- in box: ``c_a`` strictly inside box g; in centre: ``|c_a - centre_g| < r · s_a`` on both axes
  (``r = center_radius``, 2.5). Candidates are the anchors in the box or centre of *any* g;
  other anchors are never foreground.
- cost[g, a] = BCE(sqrt(σ(cls_a) · σ(obj_a)), onehot(class_g)) summed over classes
  + 3 · (-log(IoU(g, pred_a) + 1e-8)) + 1e5 · [a is not in both box and centre of g].
- dynamic k_g = max(1, floor(sum of the ``candidate_k`` (10) largest candidate IoUs of g));
  g takes its k_g cheapest candidates; an anchor taken by several g keeps the cheapest g.

Returns per anchor: foreground flag, index of the matched g, IoU with it. Nothing here carries
gradients (the reference runs it under ``torch.no_grad``).
"""

from keras import ops
from keras.utils import bounding_boxes

#: cost that keeps an anchor outside every candidate region (or a padding g) from being chosen
_EXCLUDED = 1e8


def _log(x):
    """log clamped at -100, as ``torch.nn.functional.binary_cross_entropy`` clamps it."""
    return ops.maximum(ops.log(ops.maximum(x, 0.0)), -100.0)


def simota_assign(pred_boxes, obj_logits, cls_logits, gt_boxes, gt_classes, grid, stride,
                  center_radius=2.5, candidate_k=10):
    """Assign anchors to ground truths.

    Args:
        pred_boxes: (B, A, 4) decoded ``xyxy`` predictions; obj_logits: (B, A);
            cls_logits: (B, A, C).
        gt_boxes: (B, G, 4) ``xyxy``; gt_classes: (B, G) int, -1 for padding.
        grid, stride: (A, 2) cell indices and (A,) strides (:func:`grid.anchor_points`).

    Returns:
        ``(foreground, matched_gt, matched_iou)``: (B, A) bool, (B, A) int32, (B, A) float.
    """
    pred_boxes, obj_logits, cls_logits, gt_boxes = (
        ops.stop_gradient(ops.cast(t, "float32"))
        for t in (pred_boxes, obj_logits, cls_logits, gt_boxes))
    num_classes = cls_logits.shape[-1]
    num_anchors = pred_boxes.shape[1]
    valid = gt_classes >= 0  # (B, G)

    stride = ops.convert_to_tensor(stride, "float32")
    centers = (ops.convert_to_tensor(grid, "float32") + 0.5) * stride[:, None]  # (A, 2)
    cx, cy = centers[None, None, :, 0], centers[None, None, :, 1]  # (1, 1, A)
    x0, y0, x1, y1 = (gt_boxes[..., i:i + 1] for i in range(4))  # (B, G, 1)
    in_box = (cx > x0) & (cx < x1) & (cy > y0) & (cy < y1)
    radius = center_radius * stride[None, None, :]
    in_center = (ops.abs(cx - (x0 + x1) / 2) < radius) & (ops.abs(cy - (y0 + y1) / 2) < radius)
    in_box, in_center = in_box & valid[..., None], in_center & valid[..., None]
    candidate = ops.any(in_box | in_center, axis=1)  # (B, A)
    usable = candidate[:, None, :] & valid[..., None]  # (B, G, A)

    ious = bounding_boxes.compute_iou(gt_boxes, pred_boxes, "xyxy")  # (B, G, A)
    ious = ops.where(usable, ious, 0.0)

    onehot = ops.one_hot(ops.maximum(gt_classes, 0), num_classes)  # (B, G, C)
    p = ops.sqrt(ops.sigmoid(cls_logits) * ops.sigmoid(obj_logits)[..., None])  # (B, A, C)
    log_p, log_not_p = _log(p), _log(1.0 - p)
    cls_cost = (-ops.sum(log_not_p, axis=-1)[:, None, :]
                - ops.einsum("bgc,bac->bga", onehot, log_p - log_not_p))
    cost = (cls_cost + 3.0 * -ops.log(ious + 1e-8)
            + 1e5 * ops.cast(~(in_box & in_center), "float32")
            + _EXCLUDED * ops.cast(~usable, "float32"))

    k = min(candidate_k, num_anchors)
    top_ious, _ = ops.top_k(ious, k)
    dynamic_k = ops.maximum(ops.floor(ops.sum(top_ious, axis=-1)), 1.0)  # (B, G)
    _, cheapest = ops.top_k(-cost, k)  # (B, G, k), cheapest first
    taken = ops.cast(ops.arange(k)[None, None, :], "float32") < dynamic_k[..., None]
    matching = ops.sum(ops.one_hot(cheapest, num_anchors)
                       * ops.cast(taken & valid[..., None], "float32")[..., None], axis=2)
    matching = ops.minimum(matching, 1.0) * ops.cast(usable, "float32")  # (B, G, A)

    shared = ops.sum(matching, axis=1) > 1  # (B, A)
    cheapest_gt = ops.one_hot(ops.argmin(cost, axis=1), ops.shape(gt_boxes)[1], axis=1)
    matching = ops.where(shared[:, None, :], cheapest_gt, matching)
    foreground = ops.sum(matching, axis=1) > 0
    matched_gt = ops.cast(ops.argmax(matching, axis=1), "int32")
    matched_iou = ops.sum(matching * ious, axis=1)
    return foreground, matched_gt, matched_iou
