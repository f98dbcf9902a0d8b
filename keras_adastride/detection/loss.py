"""The YOLOX training loss on the raw maps (``yolox/models/yolo_head.py``, ``get_losses``).

With SimOTA's foreground set F (:mod:`assignment`), n = max(1, |F|) over the batch, and for a
foreground anchor a its matched ground truth g(a):

    box = Σ_{a∈F} (1 - IoU(pred_a, gt_g(a))²) / n                    (YOLOX's IOUloss, "iou")
    obj = Σ_{all a} BCE(obj_a, [a ∈ F]) / n
    cls = Σ_{a∈F} Σ_c BCE(cls_a,c, onehot(class_g(a))_c · IoU_a) / n  (IoU-aware class targets)
    total = 5 · box + obj + cls

BCEs take logits. YOLOX adds an L1 term on the raw offsets only in its last 15 epochs without
augmentation; it is left out here. An image (or batch) without objects has F empty, n = 1,
box = cls = 0 and obj pushes every objectness down: finite.
"""

from keras import ops
from keras.utils import bounding_boxes

from keras_adastride.detection.assignment import simota_assign
from keras_adastride.detection.grid import decode_boxes

REG_WEIGHT = 5.0


def _bce_with_logits(logits, targets):
    """Elementwise binary cross-entropy of ``sigmoid(logits)`` against ``targets`` (stable)."""
    return ops.maximum(logits, 0.0) - logits * targets + ops.log1p(ops.exp(-ops.abs(logits)))


def yolox_loss(raw, gt_boxes, gt_classes, grid, stride, center_radius=2.5, candidate_k=10,
               reg_weight=REG_WEIGHT):
    """The YOLOX loss and its parts.

    Args:
        raw: (B, A, 5 + C) flattened raw predictions (box, objectness logit, class logits).
        gt_boxes: (B, G, 4) ``xyxy`` pixels; gt_classes: (B, G) int, -1 for padding.
        grid, stride: the anchor points (:func:`grid.anchor_points`).

    Returns:
        dict of scalars ``loss`` (total), ``box_loss`` (already × ``reg_weight``), ``obj_loss``,
        ``cls_loss`` and ``num_foreground`` (|F|, before the max with 1).
    """
    raw = ops.cast(raw, "float32")
    gt_boxes = ops.cast(gt_boxes, "float32")
    gt_classes = ops.cast(gt_classes, "int32")
    pred_boxes = decode_boxes(raw[..., :4], grid, stride)
    obj_logits, cls_logits = raw[..., 4], raw[..., 5:]
    foreground, matched_gt, matched_iou = simota_assign(
        pred_boxes, obj_logits, cls_logits, gt_boxes, gt_classes, grid, stride,
        center_radius=center_radius, candidate_k=candidate_k)
    fg = ops.cast(foreground, "float32")
    num_fg = ops.sum(fg)
    normaliser = ops.maximum(num_fg, 1.0)

    match = ops.one_hot(matched_gt, ops.shape(gt_boxes)[1], axis=1) * fg[:, None, :]  # (B, G, A)
    ious = bounding_boxes.compute_iou(gt_boxes, pred_boxes, "xyxy")  # with gradients
    box_loss = ops.sum(match * (1.0 - ious ** 2)) / normaliser
    obj_loss = ops.sum(_bce_with_logits(obj_logits, fg)) / normaliser
    classes = ops.take_along_axis(ops.maximum(gt_classes, 0), matched_gt, axis=1)  # (B, A)
    cls_targets = ops.one_hot(classes, cls_logits.shape[-1]) * matched_iou[..., None]
    cls_loss = ops.sum(_bce_with_logits(cls_logits, cls_targets) * fg[..., None]) / normaliser
    box_loss = reg_weight * box_loss
    return {"loss": box_loss + obj_loss + cls_loss, "box_loss": box_loss, "obj_loss": obj_loss,
            "cls_loss": cls_loss, "num_foreground": num_fg}
