"""The segmentation scores (Keras metrics) against a NumPy computation on hand-made masks."""

import numpy as np
import pytest

from keras_adastride.segmentation import evaluate_segmentation


def numpy_iou(masks, predicted, num_classes):
    """Independent per-class IoU: |truth ∩ prediction| / |truth ∪ prediction|, NaN if empty."""
    ious = []
    for c in range(num_classes):
        union = np.sum((masks == c) | (predicted == c))
        ious.append(np.sum((masks == c) & (predicted == c)) / union if union else np.nan)
    return np.array(ious)


class FixedPrediction:
    """A 'model' whose prediction on batch ``i`` is a one-hot map of given class ids."""

    def __init__(self, class_map, num_classes):
        self.class_map, self.num_classes = class_map, num_classes

    def predict(self, x, batch_size=None, verbose=0):
        start = int(x[0, 0, 0, 0])  # the test images carry their own index
        return np.eye(self.num_classes, dtype="float32")[self.class_map[start:start + len(x)]]


def _case(num_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    masks = np.zeros((6, 8, 8), np.int32)
    masks[:, 2:5, 1:4] = 1            # class 1 everywhere
    masks[:3, 5:8, 5:8] = 2           # class 2 on half the images
    predicted = masks.copy()
    flip = rng.random(masks.shape) < 0.2  # 20% of the pixels wrong
    predicted[flip] = rng.integers(0, num_classes - 1, flip.sum())  # class 3: never predicted
    images = np.zeros((6, 8, 8, 1), np.float32)
    images[:, 0, 0, 0] = np.arange(6)
    return images, masks, predicted


@pytest.mark.parametrize("batch_size", [6, 4])
def test_scores_match_numpy(batch_size):
    images, masks, predicted = _case()
    scores = evaluate_segmentation(FixedPrediction(predicted, 4), images, masks, 4,
                                   class_names=["bg", "a", "b", "c"], batch_size=batch_size)
    iou = numpy_iou(masks, predicted, 4)
    assert np.isnan(iou[3]) and np.isnan(scores["iou"]["c"])  # class 3: in neither
    np.testing.assert_allclose([scores["iou"][n] for n in "bg a b".split()], iou[:3], rtol=1e-6)
    np.testing.assert_allclose(scores["pixel_accuracy"], np.mean(masks == predicted), rtol=1e-6)
    np.testing.assert_allclose(scores["mean_iou"], np.nanmean(iou), rtol=1e-6)
    # background counted as a class in mean_iou, left out of foreground_mean_iou
    np.testing.assert_allclose(scores["foreground_mean_iou"], np.nanmean(iou[1:]), rtol=1e-6)
    assert scores["mean_iou"] != pytest.approx(scores["foreground_mean_iou"])


def test_background_predicted_as_an_item_costs_that_item():
    """Only the foreground IoUs are averaged, but a background pixel predicted as class 1
    still lowers class 1's IoU (full confusion matrix, not `ignore_class`)."""
    masks = np.zeros((1, 4, 4), np.int32)
    masks[0, :2, :2] = 1
    predicted = masks.copy()
    predicted[0, 3, 3] = 1                     # one background pixel called class 1
    images = np.zeros((1, 4, 4, 1), np.float32)
    scores = evaluate_segmentation(FixedPrediction(predicted, 2), images, masks, 2)
    assert scores["foreground_mean_iou"] == pytest.approx(4 / 5)
    assert scores["iou"]["0"] == pytest.approx(11 / 12)
    assert scores["mean_iou"] == pytest.approx((4 / 5 + 11 / 12) / 2)
    assert scores["pixel_accuracy"] == pytest.approx(15 / 16)


def test_perfect_prediction():
    images, masks, _ = _case()
    scores = evaluate_segmentation(FixedPrediction(masks, 4), images, masks, 4)
    assert scores["pixel_accuracy"] == scores["mean_iou"] == scores["foreground_mean_iou"] == 1.0


def test_bad_inputs_name_the_value():
    images, masks, predicted = _case()
    model = FixedPrediction(predicted, 4)
    with pytest.raises(ValueError, match=r"masks.*\(6, 8, 8\).*\(6, 8, 7\)"):
        evaluate_segmentation(model, images, masks[:, :, :7], 4)
    with pytest.raises(ValueError, match=r"class ids in \[0, 1\].*class id 2"):
        evaluate_segmentation(model, images, masks, 2)
    with pytest.raises(ValueError, match="class id -1"):
        evaluate_segmentation(model, images, masks - 1, 4)
    with pytest.raises(ValueError, match="integer class ids.*float"):
        evaluate_segmentation(model, images, masks.astype("float32"), 4)
    with pytest.raises(ValueError, match="class_names.*4 classes.*2 names"):
        evaluate_segmentation(model, images, masks, 4, class_names=["x", "y"])
