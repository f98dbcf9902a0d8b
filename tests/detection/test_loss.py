"""The YOLOX loss through model.fit: it decreases on a fixed batch, stays finite on empty
images, and its parts are logged."""

import keras
import numpy as np
import pytest

from keras_adastride import models
from keras_adastride.detection import YOLOXDetector, anchor_points, yolox_loss
from keras_adastride.experiments.train import build_before_fit


def _detector(seed=0, eager=True):
    """Eager by default: tracing YOLOX's train step costs more than the one or two steps most
    tests take; ``eager=False`` for many steps (one trace, ``build_before_fit`` keeps it one)."""
    keras.utils.set_random_seed(seed)
    network = models.yolox_s(input_shape=(64, 64, 1), num_classes=3, width=0.0625)
    detector = YOLOXDetector(network)
    detector.compile(optimizer=keras.optimizers.Adam(3e-3), run_eagerly=eager, jit_compile=False)
    return detector


def _batch():
    images = np.zeros((4, 64, 64, 1), np.float32)
    boxes = np.zeros((4, 2, 4), np.float32)
    classes = np.full((4, 2), -1, np.int32)
    for n, (x0, y0, size, label) in enumerate([(4, 4, 20, 0), (30, 10, 28, 1), (10, 36, 16, 2),
                                               (40, 40, 12, 0)]):
        images[n, y0:y0 + size, x0:x0 + size] = 0.3 + 0.3 * label
        boxes[n, 0] = [x0, y0, x0 + size, y0 + size]
        classes[n, 0] = label
    return images, {"boxes": boxes, "classes": classes}


def test_loss_decreases_on_a_fixed_batch():
    detector = _detector(eager=False)
    images, targets = _batch()
    build_before_fit(detector, (images, targets))
    history = detector.fit(images, targets, batch_size=4, epochs=30, verbose=0).history
    assert {"loss", "box_loss", "obj_loss", "cls_loss", "foreground"} <= set(history)
    assert history["loss"][-1] < 0.5 * history["loss"][0], history["loss"]
    assert history["box_loss"][-1] < history["box_loss"][0]
    assert min(history["foreground"]) >= 1


def test_empty_images_give_a_finite_loss_and_gradient():
    detector = _detector()
    images = np.random.default_rng(0).random((2, 64, 64, 1)).astype(np.float32)
    targets = {"boxes": np.zeros((2, 1, 4), np.float32), "classes": np.full((2, 1), -1)}
    history = detector.fit(images, targets, batch_size=2, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    assert history["box_loss"] == [0.0] and history["cls_loss"] == [0.0]
    assert all(np.isfinite(w).all() for w in detector.get_weights())


def test_loss_parts_by_hand_on_one_anchor():
    """A single foreground anchor with an exact box: box loss 0, objectness BCE of every anchor
    with target 1 at that anchor only, class BCE against the one-hot · IoU (= 1) target."""
    grid, stride = anchor_points(32)
    raw = np.zeros((1, 21, 5 + 2), np.float32)
    raw[..., 4] = -4.0
    raw[0, 20, :4] = [0.5 - 0, 0.5 - 0, 0.0, 0.0]  # stride 32 anchor: the box (0, 0, 32, 32)
    raw[0, 20, 4], raw[0, 20, 5:] = 4.0, [3.0, -3.0]
    raw[0, :20, :4] = [-10, -10, -5, -5]  # far, tiny boxes: IoU 0 everywhere else
    parts = yolox_loss(raw, np.array([[[0, 0, 32, 32]]], np.float32), np.array([[0]]), grid,
                       stride)
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
    assert float(parts["num_foreground"]) == 1
    np.testing.assert_allclose(float(parts["box_loss"]), 0.0, atol=1e-5)
    np.testing.assert_allclose(float(parts["obj_loss"]), 20 * softplus(-4.0) + softplus(-4.0),
                               rtol=1e-5)
    np.testing.assert_allclose(float(parts["cls_loss"]), softplus(-3.0) + softplus(-3.0),
                               rtol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16"])
def test_mixed_precision_step_is_finite(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        detector = _detector()
        images, targets = _batch()
        history = detector.fit(images, targets, batch_size=4, epochs=1, verbose=0).history
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.isfinite(history["loss"]).all()


def test_loss_traces_with_an_unknown_number_of_truths():
    """Keras retraces with relaxed shapes when batches differ (G unknown): still computes."""
    import tensorflow as tf

    grid, stride = anchor_points(32)
    loss = tf.function(lambda raw, boxes, classes: yolox_loss(raw, boxes, classes, grid,
                                                              stride)["loss"],
                       input_signature=[tf.TensorSpec([None, 21, 7]),
                                        tf.TensorSpec([None, None, 4]),
                                        tf.TensorSpec([None, None], tf.int32)])
    value = loss(np.zeros((1, 21, 7), np.float32), np.array([[[0, 0, 16, 16]]], np.float32),
                 np.array([[1]], np.int32))
    assert np.isfinite(float(value))
