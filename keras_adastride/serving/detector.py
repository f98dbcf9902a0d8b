"""Export a YOLOX detector whose ``serving_default`` answers with boxes, not raw maps.

The signature computes, in the graph, ``x = cast(images) * scale + offset``, the network's raw
maps, their decoding and per-class NMS (:class:`keras_adastride.detection.DetectionDecoder`:
``tf.image.combined_non_max_suppression``, a core TensorFlow op), and returns

    boxes float32 (N, M, 4) xyxy pixels · classes int32 (N, M) · scores float32 (N, M) ·
    valid_detections int32 (N,)

so a client needs no post-processing: the first ``valid_detections[i]`` rows of image i are its
detections, best first.
"""

from keras_adastride.serving.export import export_model

#: signature output keys, in the order the decoder's dict flattens
DETECTION_OUTPUTS = ("boxes", "classes", "scores", "valid_detections")


def export_detector(detector, base_dir, model_name, version=None, *, score_threshold=0.01,
                    iou_threshold=0.65, max_detections=100, **export_args):
    """:func:`export_model` of ``detector.inference_model(score_threshold, iou_threshold,
    max_detections)`` (a :class:`keras_adastride.detection.YOLOXDetector`) with the outputs
    ``DETECTION_OUTPUTS``; ``export_args``: ``input_dtype``, ``scale``, ``offset``,
    ``input_names``, ``warmup_inputs`` as for :func:`export_model`. Returns the version folder."""
    inference = detector.inference_model(score_threshold=score_threshold,
                                         iou_threshold=iou_threshold,
                                         max_detections=max_detections)
    return export_model(inference, base_dir, model_name, version,
                        output_names=list(DETECTION_OUTPUTS), **export_args)
