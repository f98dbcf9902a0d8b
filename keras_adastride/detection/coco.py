"""COCO box AP with the reference evaluator (``pycocotools.cocoeval.COCOeval``).

Ground truth and detections are handed to pycocotools in memory (``xyxy`` pixels -> COCO's
``[x, y, w, h]``; a ground-truth area is its box area, so COCO's size ranges apply to boxes:
small < 32², medium 32²..96², large > 96²). Returns the first six entries of
``COCOeval.stats``; a size range without ground truth is NaN (pycocotools reports -1).
"""

import contextlib
import io

import numpy as np

METRICS = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large")


def _xywh(boxes):
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def coco_metrics(targets, detections, num_classes):
    """Score ``detections`` against ``targets``.

    Args:
        targets: ``{"boxes": (N, G, 4) xyxy, "classes": (N, G), -1 = padding}``.
        detections: ``{"boxes": (N, M, 4) xyxy, "scores": (N, M), "classes": (N, M),
            "valid_detections": (N,)}`` (the :class:`decode.DetectionDecoder` outputs).
        num_classes: the categories of the evaluation.

    Returns:
        dict of the ``METRICS`` (floats in [0, 1], NaN where COCO has no ground truth).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt_classes = np.asarray(targets["classes"])
    images, annotations, results = [], [], []
    for n in range(len(gt_classes)):
        images.append({"id": n})
        keep = gt_classes[n] >= 0
        for box, label in zip(_xywh(np.asarray(targets["boxes"][n])[keep]), gt_classes[n][keep]):
            annotations.append({"id": len(annotations) + 1, "image_id": n,
                                "category_id": int(label), "bbox": box.tolist(),
                                "area": float(box[2] * box[3]), "iscrowd": 0})
        count = int(detections["valid_detections"][n])
        for box, score, label in zip(_xywh(detections["boxes"][n][:count]),
                                     detections["scores"][n][:count],
                                     detections["classes"][n][:count]):
            results.append({"image_id": n, "category_id": int(label), "bbox": box.tolist(),
                            "score": float(score)})
    if not results or not annotations:
        return {name: (0.0 if annotations else float("nan")) for name in METRICS}
    ground_truth = COCO()
    ground_truth.dataset = {"images": images, "annotations": annotations,
                            "categories": [{"id": c} for c in range(num_classes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        ground_truth.createIndex()
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {name: (float(v) if v >= 0 else float("nan"))
            for name, v in zip(METRICS, evaluation.stats[:6])}
