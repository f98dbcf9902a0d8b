"""Detection with YOLOX: SimOTA assignment, the YOLOX loss, decoding + NMS, COCO scoring.

``YOLOXDetector(models.yolox_s(...))`` trains with ``fit(images, targets)`` where
``targets = boxes_to_targets(...)`` (or :func:`composite_detection_set`); ``detect`` /
``inference_model`` give NMS-filtered boxes; :func:`coco_metrics` scores them with pycocotools.
See ``docs/detection.md``.
"""

from keras_adastride.detection.assignment import simota_assign
from keras_adastride.detection.coco import coco_metrics
from keras_adastride.detection.decode import DetectionDecoder
from keras_adastride.detection.grid import anchor_points, decode_boxes, flatten_levels
from keras_adastride.detection.loss import yolox_loss
from keras_adastride.detection.model import YOLOXDetector
from keras_adastride.detection.targets import boxes_to_targets, composite_detection_set

__all__ = [
    "DetectionDecoder", "YOLOXDetector", "anchor_points", "boxes_to_targets", "coco_metrics",
    "composite_detection_set", "decode_boxes", "flatten_levels", "simota_assign", "yolox_loss",
]
