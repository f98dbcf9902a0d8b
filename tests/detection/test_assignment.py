"""SimOTA: a hand-checked tiny case and agreement with a per-image NumPy reference loop."""

import numpy as np
from detection_references import simota_reference

from keras_adastride.detection import anchor_points, decode_boxes, simota_assign

GRID, STRIDE = anchor_points(32)  # 4x4 at stride 8, 2x2 at 16, 1x1 at 32: 21 anchors


def _assign(pred, obj, cls, gt_boxes, gt_classes):
    out = simota_assign(pred[None], obj[None], cls[None], gt_boxes[None], gt_classes[None],
                        GRID, STRIDE)
    return [np.asarray(t)[0] for t in out]


def test_hand_checked_tiny_case():
    """One 16x16 object at (8, 8)-(24, 24) of a 32x32 canvas. Anchor centres: stride 8 at 4, 12,
    20, 28 -> the four at 12/20 are inside the box; the stride-32 anchor (16, 16) too; with the
    2.5-stride centre radius every anchor is a candidate. Predictions: exact boxes (IoU 1) at
    the stride-8 anchor (row 1, col 1), at the stride-32 anchor, and at the stride-8 corner
    anchor (0, 0), which is outside the box; a far 4x4 box elsewhere (IoU 0). Top-10 IoUs sum
    to 3 -> k = 3. Costs: in box and centre with IoU 1 (2 anchors) < in box and centre with IoU
    0 (3·18.4 = 55; the one with the highest class score, (2, 2), is cheapest) < the corner
    (+1e5 outside the box). So the foreground is {(1,1), p5, (2,2)}, not the exact corner."""
    gt = np.array([[8.0, 8.0, 24.0, 24.0]], np.float32)
    pred = np.tile(np.array([[0.0, 0.0, 4.0, 4.0]], np.float32), (21, 1))
    p3 = lambda row, col: row * 4 + col  # noqa: E731
    for anchor in (p3(1, 1), 20, p3(0, 0)):
        pred[anchor] = gt[0]
    obj = np.zeros(21, np.float32)
    cls = np.full((21, 2), -2.0, np.float32)
    cls[p3(2, 2), 1] = 2.0
    fg, matched, iou = _assign(pred, obj, cls, gt, np.array([1]))
    assert sorted(np.flatnonzero(fg)) == sorted([p3(1, 1), 20, p3(2, 2)])
    assert (matched[fg] == 0).all()
    np.testing.assert_allclose(iou[[p3(1, 1), 20, p3(2, 2)]], [1.0, 1.0, 0.0], atol=1e-5)


def test_shared_anchor_goes_to_the_cheapest_truth_and_padding_is_ignored():
    """Two identical objects want the same anchors; each anchor keeps the cheaper one (the
    class whose score is higher there); a padding row (-1) takes nothing."""
    gt = np.array([[8.0, 8.0, 24.0, 24.0], [8.0, 8.0, 24.0, 24.0], [0, 0, 32, 32]], np.float32)
    pred = np.tile(gt[:1], (21, 1))
    cls = np.full((21, 2), -3.0, np.float32)
    cls[:, 1] = 3.0
    fg, matched, _ = _assign(pred, np.zeros(21, np.float32), cls, gt, np.array([0, 1, -1]))
    assert fg.sum() > 0 and (matched[fg] == 1).all()


def test_matches_the_reference_loops_on_random_cases():
    rng = np.random.default_rng(0)
    grid, stride = anchor_points((64, 96))
    foregrounds = 0
    for case in range(6):
        count = int(rng.integers(0, 5))
        xy = rng.uniform(0, 50, (count, 2))
        gt = np.concatenate([xy, xy + rng.uniform(6, 40, (count, 2))], axis=1)
        gt = np.minimum(gt, [96, 64, 96, 64]).astype(np.float32)
        labels = rng.integers(0, 3, count)
        raw = rng.normal(0, 0.5, (len(stride), 4)).astype(np.float32)
        pred = np.asarray(decode_boxes(raw, grid, stride))
        obj = rng.normal(0, 1, len(stride)).astype(np.float32)
        cls = rng.normal(0, 1, (len(stride), 3)).astype(np.float32)
        padded = np.zeros((5, 4), np.float32)
        padded[:count] = gt
        padded_labels = np.full(5, -1)
        padded_labels[:count] = labels
        out = simota_assign(pred[None], obj[None], cls[None], padded[None],
                            padded_labels[None], grid, stride)
        fg, matched, iou = (np.asarray(t)[0] for t in out)
        ref_fg, ref_matched, ref_iou = simota_reference(pred, obj, cls, gt, labels, grid,
                                                        stride)
        np.testing.assert_array_equal(fg, ref_fg, err_msg=f"case {case}")
        np.testing.assert_array_equal(matched[fg], ref_matched[fg], err_msg=f"case {case}")
        np.testing.assert_allclose(iou, ref_iou, atol=1e-5, err_msg=f"case {case}")
        foregrounds += int(fg.sum())
    assert foregrounds > 10  # the cases did assign something
