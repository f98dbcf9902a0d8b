"""Decoding inverts YOLOX's encoding; the decoder's NMS against hand-made score maps."""

import numpy as np
import pytest
from detection_references import encode_boxes

from keras_adastride.detection import DetectionDecoder, anchor_points, decode_boxes


def test_decode_is_the_inverse_of_encoding():
    grid, stride = anchor_points((64, 96))
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 60, (len(stride), 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 50, (len(stride), 2))], axis=1)
    decoded = np.asarray(decode_boxes(encode_boxes(boxes, grid, stride).astype(np.float32),
                                      grid, stride))
    np.testing.assert_allclose(decoded, boxes, atol=1e-3)


def test_anchor_points_order_and_canvas_check():
    grid, stride = anchor_points(64)
    assert len(stride) == 64 + 16 + 4
    np.testing.assert_array_equal(grid[:3], [[0, 0], [1, 0], [2, 0]])  # row-major, (gx, gy)
    np.testing.assert_array_equal(grid[8], [0, 1])
    assert stride[63] == 8 and stride[64] == 16 and stride[-1] == 32
    with pytest.raises(ValueError, match="canvas_size=70"):
        anchor_points(70)


def _maps(boxes_by_anchor, scores_by_anchor, num_classes=3, size=64):
    """Raw p3/p4/p5 maps with the given decoded boxes and σ(obj)·σ(cls) scores per anchor;
    every other anchor scores ~0."""
    grid, stride = anchor_points(size)
    raw = np.zeros((len(stride), 5 + num_classes), np.float32)
    raw[:, 4:] = -20.0
    for anchor, box in boxes_by_anchor.items():
        raw[anchor, :4] = encode_boxes(np.array(box, np.float64)[None], grid[anchor:anchor + 1],
                                       stride[anchor:anchor + 1])[0]
        raw[anchor, 4] = 20.0  # σ(obj) = 1
        for label, score in scores_by_anchor[anchor].items():
            raw[anchor, 5 + label] = np.log(score / (1 - score))
    sizes = [size // s for s in (8, 16, 32)]
    out, start = {}, 0
    for level, n in zip(("p3", "p4", "p5"), sizes):
        out[level] = raw[start:start + n * n].reshape(1, n, n, -1)
        start += n * n
    return out


def test_nms_per_class_and_thresholds():
    boxes = {0: [0, 0, 20, 20], 1: [1, 1, 21, 21], 2: [40, 40, 60, 60], 3: [2, 0, 22, 20]}
    scores = {0: {0: 0.9}, 1: {0: 0.8}, 2: {1: 0.7}, 3: {2: 0.6, 0: 0.05}}
    out = DetectionDecoder(score_threshold=0.1, iou_threshold=0.5, max_detections=10)(
        _maps(boxes, scores))
    out = {k: np.asarray(v)[0] for k, v in out.items()}
    # anchor 1 overlaps anchor 0 (IoU 0.82) in class 0: suppressed; anchor 3 overlaps it too
    # but is class 2: kept; its class-0 score 0.05 is under the threshold
    assert out["valid_detections"] == 3
    np.testing.assert_allclose(out["scores"][:3], [0.9, 0.7, 0.6], atol=1e-4)
    np.testing.assert_array_equal(out["classes"][:3], [0, 1, 2])
    np.testing.assert_allclose(out["boxes"][:3], [boxes[0], boxes[2], boxes[3]], atol=1e-3)
    assert not out["scores"][3:].any()
    loose = DetectionDecoder(score_threshold=0.01, iou_threshold=0.9, max_detections=10)(
        _maps(boxes, scores))
    assert int(np.asarray(loose["valid_detections"])[0]) == 5  # IoU 0.82 < 0.9: both kept


def test_boxes_are_clipped_to_the_image_unless_told_not_to():
    boxes = {0: [-6, -4, 10, 12], 83: [50, 40, 75, 70]}  # off the top-left / bottom-right
    scores = {0: {0: 0.9}, 83: {1: 0.8}}
    clipped = DetectionDecoder(score_threshold=0.1)(_maps(boxes, scores))
    np.testing.assert_allclose(np.asarray(clipped["boxes"])[0, :2],
                               [[0, 0, 10, 12], [50, 40, 64, 64]], atol=1e-3)
    raw = DetectionDecoder(score_threshold=0.1, clip_boxes=False)(_maps(boxes, scores))
    np.testing.assert_allclose(np.asarray(raw["boxes"])[0, :2], [boxes[0], boxes[83]],
                               atol=1e-3)


def test_decoder_arguments():
    with pytest.raises(ValueError, match="iou_threshold=1.5"):
        DetectionDecoder(iou_threshold=1.5)
    with pytest.raises(ValueError, match="max_detections"):
        DetectionDecoder(max_detections=0)
    layer = DetectionDecoder(0.2, 0.4, 7, clip_boxes=False)
    assert DetectionDecoder.from_config(layer.get_config()).get_config() == layer.get_config()
