"""Semantic segmentation on composite canvases: data, Keras-metric scores, training, export.

- :mod:`~keras_adastride.segmentation.data`: canvases of real Fashion-MNIST items and MNIST digits
  (21 classes, background = 0) and the checks of masks and canvas sizes;
- :mod:`~keras_adastride.segmentation.metrics`: pixel accuracy, mean IoU (with and without the
  background) and per-class IoU from ``keras.metrics``;
- :mod:`~keras_adastride.segmentation.training`: the builders and the one-run recipe the main
  job's ``--task segmentation`` uses;
- :mod:`~keras_adastride.segmentation.export`: a TF Serving export returning the class map and
  the probabilities.
"""

from keras_adastride.segmentation.data import (BACKGROUND, CLASS_NAMES, NUM_CLASSES,
                                               check_canvas_size, check_segmentation_data,
                                               composite_split)
from keras_adastride.segmentation.export import export_segmenter
from keras_adastride.segmentation.metrics import evaluate_segmentation, training_metrics

__all__ = ["BACKGROUND", "CLASS_NAMES", "NUM_CLASSES", "check_canvas_size",
           "check_segmentation_data", "composite_split", "evaluate_segmentation",
           "export_segmenter", "training_metrics"]
