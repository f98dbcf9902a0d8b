"""The pycocotools scorer on hand-made cases."""

import numpy as np
import pytest

from keras_adastride.detection import coco_metrics

TRUTH = {"boxes": np.array([[[0, 0, 20, 20], [30, 30, 80, 70], [0, 0, 0, 0]],
                            [[10, 50, 24, 60], [0, 0, 0, 0], [0, 0, 0, 0]]], np.float32),
         "classes": np.array([[0, 1, -1], [2, -1, -1]])}


def _as_detections(boxes, classes, scores=None):
    count = (classes >= 0).sum(axis=1)
    scores = np.where(classes >= 0, 1.0, 0.0) if scores is None else scores
    return {"boxes": boxes, "classes": np.maximum(classes, 0), "scores": scores,
            "valid_detections": count}


def test_perfect_predictions_score_one():
    scores = coco_metrics(TRUTH, _as_detections(TRUTH["boxes"], TRUTH["classes"]), 3)
    for name in ("AP", "AP50", "AP75", "AP_small", "AP_medium"):
        assert scores[name] == pytest.approx(1.0), name
    assert np.isnan(scores["AP_large"])  # no box above 96² pixels


def test_shifted_boxes_lower_ap_monotonically():
    aps = []
    for shift in (0, 1, 2, 4, 8):
        moved = TRUTH["boxes"] + np.array([shift, 0, shift, 0], np.float32)
        aps.append(coco_metrics(TRUTH, _as_detections(moved, TRUTH["classes"]), 3)["AP"])
    assert aps[0] == pytest.approx(1.0) and all(a > b for a, b in zip(aps, aps[1:])), aps
    assert aps[-1] < 0.5


def test_wrong_class_misses_and_empty_detections():
    classes = TRUTH["classes"].copy()
    classes[1, 0] = 1  # the small box is reported as class 1: class 2 is missed
    scores = coco_metrics(TRUTH, _as_detections(TRUTH["boxes"], classes), 3)
    assert scores["AP"] < 0.9 and scores["AP_medium"] == pytest.approx(1.0)
    none = _as_detections(TRUTH["boxes"], np.full_like(classes, -1))
    assert coco_metrics(TRUTH, none, 3)["AP"] == 0.0


def test_false_positive_costs_ap_only_when_it_outranks_the_true_one():
    boxes = np.zeros((2, 3, 4), np.float32)
    boxes[:, :2] = TRUTH["boxes"][:, :2]
    boxes[0, 2] = [50, 0, 70, 20]  # nothing there
    classes = np.array([[0, 1, 0], [2, 0, 0]])
    count = np.array([3, 1])
    for false_score, expected_perfect in ((0.1, True), (0.95, False)):
        scores = np.array([[0.9, 0.9, false_score], [0.9, 0.0, 0.0]])
        detections = {"boxes": boxes, "classes": classes, "scores": scores,
                      "valid_detections": count}
        ap = coco_metrics(TRUTH, detections, 3)["AP"]
        assert (ap == pytest.approx(1.0)) == expected_perfect, (false_score, ap)
