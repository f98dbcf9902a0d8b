"""Pixel accuracy, mean IoU and per-class IoU from Keras' own metrics.

With ``C`` classes and the confusion matrix ``M`` over every pixel of the set (``M[t, p]``:
pixels of true class t predicted as p, prediction = argmax of the probabilities):

    pixel accuracy = trace(M) / sum(M)                       (keras.metrics.SparseCategoricalAccuracy)
    IoU_c          = M[c, c] / (sum_p M[c, p] + sum_t M[t, c] - M[c, c])      (keras.metrics.IoU)
    mean IoU       = mean of IoU_c over the classes with a non-zero union     (keras.metrics.MeanIoU)

Background: as in M2NIST, whose masks carry the background as a class of its own, the background
is class 0 and counts like every other class in pixel accuracy and ``mean_iou``.
``foreground_mean_iou`` is the mean IoU of the item classes alone (``keras.metrics.IoU`` with
``target_class_ids`` = every class but the background), computed from the same full confusion
matrix, so background pixels predicted as an item still count against that item. A class absent
from both the truth and the predictions has no IoU: NaN in ``iou`` (Keras' single-class IoU
would say 0) and left out of both means (as Keras does).
"""

import keras

from keras_adastride.segmentation.data import check_segmentation_data


def training_metrics(num_classes):
    """Metrics cheap enough for every epoch: pixel accuracy and mean IoU (the learning curves)."""
    return [keras.metrics.SparseCategoricalAccuracy(name="pixel_accuracy"),
            keras.metrics.MeanIoU(num_classes, name="mean_iou", sparse_y_pred=False)]


def _metrics(num_classes, background):
    """``{name: metric}`` for :func:`evaluate_segmentation`: the two of :func:`training_metrics`,
    ``foreground_mean_iou`` and one ``keras.metrics.IoU`` per class (``iou_<c>``)."""
    metrics = {m.name: m for m in training_metrics(num_classes)}
    foreground = [c for c in range(num_classes) if c != background]
    if foreground:
        metrics["foreground_mean_iou"] = keras.metrics.IoU(
            num_classes, foreground, name="foreground_mean_iou", sparse_y_pred=False)
    for c in range(num_classes):
        metrics[f"iou_{c}"] = keras.metrics.IoU(num_classes, [c], name=f"iou_{c}",
                                                sparse_y_pred=False)
    return metrics


def evaluate_segmentation(model, images, masks, num_classes, class_names=None, background=0,
                          batch_size=64):
    """Score ``model`` (images (N, H, W, C) -> probabilities (N, H, W, num_classes)) on
    ``masks`` (N, H, W); ``class_names`` label the per-class IoUs (default "0", "1", ...).

    Returns:
        ``{"pixel_accuracy", "mean_iou", "foreground_mean_iou": float, "iou": {name: float}}``
        (see the module doc; ``background=None`` makes ``foreground_mean_iou`` the mean IoU).
    """
    images, masks = check_segmentation_data(images, masks, num_classes)
    names = list(class_names) if class_names is not None else [str(c) for c in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(f"argument `class_names` must name the {num_classes} classes; received "
                         f"{len(names)} names.")
    metrics = _metrics(num_classes, background)
    for start in range(0, len(images), batch_size):
        # (predict, not predict_on_batch: under a tf.distribute strategy of several replicas
        # predict_on_batch gives every replica the whole batch and returns each one's outputs)
        probabilities = model.predict(images[start:start + batch_size], batch_size=batch_size,
                                      verbose=0)
        truth = masks[start:start + batch_size]
        for metric in metrics.values():
            metric.update_state(truth, probabilities)
    confusion = keras.ops.convert_to_numpy(metrics["mean_iou"].total_cm)
    present = (confusion.sum(axis=0) + confusion.sum(axis=1)) > 0
    result = {name: float(metrics[name].result()) if name in metrics else float("nan")
              for name in ("pixel_accuracy", "mean_iou", "foreground_mean_iou")}
    result["iou"] = {names[c]: float(metrics[f"iou_{c}"].result()) if present[c] else float("nan")
                     for c in range(num_classes)}
    return result

