"""Pieces every builder shares: the named image input, argument checks, the classifier top."""

import keras

from keras_adastride import _validation as check

#: name of every model's image input (the serving signature key).
INPUT_NAME = "images"


def image_input(model, input_shape, min_size=1):
    """``keras.Input`` named "images" after checking ``input_shape`` is (H, W, C), channels_last.

    H and W may be None (any size) where the model allows it; otherwise they must be at least
    ``min_size`` so that every downsampling step has something to pool.
    """
    shape = tuple(input_shape) if input_shape is not None else ()
    ok = len(shape) == 3 and shape[2] is not None and shape[2] >= 1 and all(
        size is None or (isinstance(size, int) and size >= min_size) for size in shape[:2]
    )
    if not ok:
        raise ValueError(
            f"{model}: argument `input_shape` must be (height, width, channels) (channels_last) "
            f"with height and width >= {min_size} or None; received input_shape={input_shape!r}."
        )
    return keras.Input(shape, name=INPUT_NAME)


def width_multiplier(model, alpha):
    """``alpha`` checked as a positive number: the width multiplier (keras.applications.MobileNet's
    ``alpha``) every builder takes."""
    return check.positive_number(model, "alpha", alpha)


def scaled(width, alpha):
    """``max(1, int(width * alpha))``: a layer width under the multiplier ``alpha``."""
    return max(1, int(width * alpha))


def classes(model, num_classes):
    """``num_classes`` checked as a positive int."""
    return check.positive_int(model, "num_classes", num_classes)


#: dtype of every model's output layer: float32 outputs under mixed precision (the Keras
#: mixed-precision guide's advice for a softmax), no change under the float32 policy.
OUTPUT_DTYPE = "float32"


def classifier_top(x, num_classes, activation, name="predictions"):
    """The last dense layer; ``activation`` "softmax" (probabilities) or None (logits)."""
    return keras.layers.Dense(num_classes, activation=activation, name=name,
                              dtype=OUTPUT_DTYPE)(x)


def global_pooling(x, pooling):
    """``include_top=False`` pooling as in keras.applications: None, "avg" or "max"."""
    if pooling is None:
        return x
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    raise ValueError(
        f"argument `pooling` must be None, 'avg' or 'max'; received pooling={pooling!r}."
    )
