"""``COCOEvaluation``: COCO AP of a held-out set after every epoch, as ``val_AP`` etc. in logs."""

import keras

from keras_adastride.detection.coco import coco_metrics


class COCOEvaluation(keras.callbacks.Callback):
    """Detect ``images`` with the model's :meth:`YOLOXDetector.detect` at each epoch end and add
    ``val_<metric>`` for each of ``metrics`` (pycocotools, :func:`coco_metrics`) to the logs, so
    ``History``, progress bars and checkpoints see them."""

    def __init__(self, images, targets, metrics=("AP", "AP50"), **detect_args):
        super().__init__()
        self.images, self.targets = images, targets
        self.metrics = tuple(metrics)
        self.detect_args = detect_args

    def on_epoch_end(self, epoch, logs=None):
        detections = self.model.detect(self.images, **self.detect_args)
        scores = coco_metrics(self.targets, detections, self.model.num_classes)
        if logs is not None:
            logs.update({f"val_{name}": scores[name] for name in self.metrics})
