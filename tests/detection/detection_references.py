"""Independent NumPy references for the detection tests: YOLOX's box encoding (the inverse of
its decoding) and SimOTA written as the reference's per-image loops."""

import numpy as np


def encode_boxes(xyxy, grid, stride):
    """xyxy pixel boxes -> raw (tx, ty, tw, th) of anchors (grid, stride): YOLOX's decoding
    ``cx = (tx + gx) s``, ``w = exp(tw) s`` solved for the raw values."""
    cx, cy = (xyxy[..., 0] + xyxy[..., 2]) / 2, (xyxy[..., 1] + xyxy[..., 3]) / 2
    w, h = xyxy[..., 2] - xyxy[..., 0], xyxy[..., 3] - xyxy[..., 1]
    return np.stack([cx / stride - grid[:, 0], cy / stride - grid[:, 1],
                     np.log(w / stride), np.log(h / stride)], axis=-1)


def _iou(a, b):
    """IoU matrix of xyxy boxes a (G, 4) and b (A, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=-1)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=-1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def simota_reference(pred_boxes, obj_logits, cls_logits, gt_boxes, gt_classes, grid, stride,
                     center_radius=2.5, candidate_k=10):
    """One image, as YOLOX's get_in_boxes_info / get_assignments / dynamic_k_matching do it:
    returns (foreground (A,) bool, matched gt (A,) int, matched IoU (A,))."""
    num_anchors = len(stride)
    foreground = np.zeros(num_anchors, bool)
    matched = np.zeros(num_anchors, int)
    matched_iou = np.zeros(num_anchors)
    if len(gt_boxes) == 0:
        return foreground, matched, matched_iou
    centers = (grid + 0.5) * stride[:, None]
    in_box = np.array([(centers[:, 0] > b[0]) & (centers[:, 0] < b[2]) & (centers[:, 1] > b[1])
                       & (centers[:, 1] < b[3]) for b in gt_boxes])
    gc = (gt_boxes[:, :2] + gt_boxes[:, 2:]) / 2
    in_center = np.array([np.all(np.abs(centers - c) < center_radius * stride[:, None], axis=1)
                          for c in gc])
    candidates = np.flatnonzero((in_box | in_center).any(axis=0))
    ious = _iou(gt_boxes, pred_boxes[candidates])
    p = np.sqrt(_sigmoid(cls_logits[candidates]) * _sigmoid(obj_logits[candidates])[:, None])
    cost = np.zeros((len(gt_boxes), len(candidates)))
    for g, label in enumerate(gt_classes):
        target = np.eye(cls_logits.shape[1])[label]
        bce = -(target * np.maximum(np.log(p), -100)
                + (1 - target) * np.maximum(np.log(1 - p), -100))
        cost[g] = bce.sum(axis=1)
    both = (in_box & in_center)[:, candidates]
    cost = cost + 3.0 * -np.log(ious + 1e-8) + 1e5 * ~both
    matching = np.zeros_like(cost)
    k = min(candidate_k, len(candidates))
    for g in range(len(gt_boxes)):
        dynamic_k = max(int(np.sort(ious[g])[::-1][:k].sum()), 1)
        matching[g, np.argsort(cost[g], kind="stable")[:dynamic_k]] = 1
    shared = matching.sum(axis=0) > 1
    matching[:, shared] = 0
    matching[cost[:, shared].argmin(axis=0), np.flatnonzero(shared)] = 1
    taken = matching.sum(axis=0) > 0
    foreground[candidates[taken]] = True
    matched[candidates[taken]] = matching[:, taken].argmax(axis=0)
    matched_iou[candidates[taken]] = (matching * ious).sum(axis=0)[taken]
    return foreground, matched, matched_iou
