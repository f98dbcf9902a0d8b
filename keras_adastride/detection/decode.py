"""From raw maps to detections: decoding, scores, and non-maximum suppression.

Per anchor a: ``box_a`` = :func:`grid.decode_boxes` (``xyxy`` pixels) and, per class c,
``score_a,c = σ(obj_a) · σ(cls_a,c)`` (YOLOX's ``postprocess``). NMS is
``tf.image.combined_non_max_suppression`` (per class, boxes shared across classes) on the boxes
clipped to the image (``clip_boxes``; YOLOX itself does not clip), so one box may be reported
under several classes when more than one scores above
``score_threshold``; YOLOX keeps only its best class. Outputs, ordered by score:

    boxes (B, M, 4) float32 xyxy · scores (B, M) float32 · classes (B, M) int32 ·
    valid_detections (B,) int32   (rows past valid_detections are zero)

with M = ``max_detections``. Needs the TensorFlow backend (the NMS op is TensorFlow's).
"""

import keras
from keras import ops

from keras_adastride import _validation as check
from keras_adastride.detection.grid import (LEVELS, STRIDES, anchor_points, decode_boxes,
                                            flatten_levels)


def class_scores(raw):
    """``σ(obj) · σ(cls)`` per anchor and class: raw maps (..., 4 + 1 + C) -> (..., C)."""
    return ops.sigmoid(raw[..., 4:5]) * ops.sigmoid(raw[..., 5:])


@keras.saving.register_keras_serializable(package="keras_adastride")
class DetectionDecoder(keras.layers.Layer):
    """Raw ``{"p3", "p4", "p5"}`` maps -> ``{"boxes", "classes", "scores", "valid_detections"}``.

    Args:
        score_threshold: detections scoring below are dropped (YOLOX's COCO eval: 0.01).
        iou_threshold: NMS overlap above which the lower-scored box of a class is suppressed.
        max_detections: M, detections kept per image (and per class).
        strides: of the levels p3, p4, p5.
        clip_boxes: clip every box to the image, ``[0, W] x [0, H]`` pixels, before NMS.
    """

    def __init__(self, score_threshold=0.01, iou_threshold=0.65, max_detections=100,
                 strides=STRIDES, clip_boxes=True, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("score_threshold", score_threshold),
                            ("iou_threshold", iou_threshold)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"DetectionDecoder: `{name}` must be in [0, 1]; received "
                                 f"{name}={value!r}.")
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = check.positive_int("DetectionDecoder", "max_detections",
                                                 max_detections)
        self.strides = tuple(int(s) for s in strides)
        self.clip_boxes = bool(clip_boxes)

    def call(self, outputs):
        import tensorflow as tf

        height, width = outputs[LEVELS[0]].shape[1:3]
        if height is None or width is None:
            raise ValueError(f"DetectionDecoder: the {LEVELS[0]} map has an unknown spatial "
                             f"size {(height, width)}; give the model a fixed input size.")
        image_height, image_width = height * self.strides[0], width * self.strides[0]
        grid, stride = anchor_points((image_height, image_width), self.strides)
        raw = ops.cast(flatten_levels(outputs), "float32")
        boxes = decode_boxes(raw[..., :4], grid, stride)
        if self.clip_boxes:
            limits = ops.convert_to_tensor([image_width, image_height] * 2, "float32")
            boxes = ops.minimum(ops.maximum(boxes, 0.0), limits)
        scores = class_scores(raw)
        nms = tf.image.combined_non_max_suppression(
            boxes[:, :, None, :], scores, max_output_size_per_class=self.max_detections,
            max_total_size=self.max_detections, iou_threshold=self.iou_threshold,
            score_threshold=self.score_threshold, clip_boxes=False)
        return {"boxes": nms.nmsed_boxes, "classes": tf.cast(nms.nmsed_classes, tf.int32),
                "scores": nms.nmsed_scores, "valid_detections": nms.valid_detections}

    def compute_output_spec(self, outputs):
        batch, m = outputs[LEVELS[0]].shape[0], self.max_detections
        return {"boxes": keras.KerasTensor((batch, m, 4), "float32"),
                "classes": keras.KerasTensor((batch, m), "int32"),
                "scores": keras.KerasTensor((batch, m), "float32"),
                "valid_detections": keras.KerasTensor((batch,), "int32")}

    def get_config(self):
        return {**super().get_config(), "score_threshold": self.score_threshold,
                "iou_threshold": self.iou_threshold, "max_detections": self.max_detections,
                "strides": self.strides, "clip_boxes": self.clip_boxes}
