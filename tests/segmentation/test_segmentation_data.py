"""The segmentation canvases: classes of both sources, held-out pools, bad sizes and masks."""

import re

import numpy as np
import pytest

from keras_adastride.segmentation import (CLASS_NAMES, NUM_CLASSES, check_canvas_size,
                                          check_segmentation_data, composite_split)
from keras_adastride.segmentation.data import item_pool


def test_classes_are_background_clothing_and_digits():
    assert NUM_CLASSES == 21 and CLASS_NAMES[0] == "background"
    assert CLASS_NAMES[1] == "T-shirt/top" and CLASS_NAMES[11] == "digit 0"
    data = composite_split("val", 60, canvas_size=64, seed=3)
    assert data["images"].shape == (60, 64, 64, 1) and data["masks"].shape == (60, 64, 64)
    classes = np.unique(data["masks"])
    assert classes[0] == 0 and classes[-1] <= 20
    assert (classes <= 10).sum() > 1 and (classes > 10).any()  # clothing and digits
    assert np.array_equal(data["masks"] > 0, data["images"][..., 0] > 0)
    # uint8-exact pixels: what a client sending raw uint8 images gives the served model
    np.testing.assert_array_equal(np.round(data["images"] * 255) / 255, data["images"])
    again = composite_split("val", 60, canvas_size=64, seed=3)
    np.testing.assert_array_equal(again["masks"], data["masks"])


def test_pools_are_balanced_and_disjoint():
    train, val = item_pool("train"), item_pool("val")
    for images, labels in (train, val, item_pool("test")):
        assert np.mean(labels < 10) == pytest.approx(0.5)
        assert np.bincount(labels, minlength=20).min() >= 20  # every class, digits included
    # no validation item is a training item (compared pixel for pixel)
    seen = {image.tobytes() for image in train[0]}
    assert not any(image.tobytes() in seen for image in val[0])


@pytest.mark.parametrize("size", [40, 20, (64, 50), "64", (64,), True])
def test_bad_canvas_sizes_name_the_value(size):
    with pytest.raises(ValueError, match="canvas_size.*received canvas_size=" + re.escape(repr(size))):
        check_canvas_size(size, multiple=16)


def test_canvas_size_pairs():
    assert check_canvas_size(64, 16) == (64, 64)
    assert check_canvas_size((32, 48), 16) == (32, 48)
    with pytest.raises(ValueError, match="split.*received split='dev'"):
        composite_split("dev", 2)


def test_check_segmentation_data():
    images = np.zeros((2, 8, 8, 1), np.float32)
    masks = np.zeros((2, 8, 8), np.int64)
    assert check_segmentation_data(images, masks, 3)[1] is not None
    with pytest.raises(ValueError, match=r"images.*\(N, H, W, C\).*\(2, 8, 8\)"):
        check_segmentation_data(images[..., 0], masks, 3)
    with pytest.raises(ValueError, match=r"masks.*\(2, 8, 8\).*\(2, 8, 8, 1\)"):
        check_segmentation_data(images, masks[..., None], 3)
    masks[1, 3, 3] = 3
    with pytest.raises(ValueError, match="num_classes=3.*class id 3"):
        check_segmentation_data(images, masks, 3)
