"""One segmentation training run: build, compile, fit, score on the test canvases.

The recipe is the same for every model and variant: Adam (``learning_rate``), per-pixel sparse
categorical cross-entropy on the softmax map, ``epochs`` passes over the training canvases in
batches of ``batch_size``, shuffled by the run's seed; pixel accuracy and mean IoU of the
validation canvases after each epoch (the learning curves); the full scores of
:func:`keras_adastride.segmentation.metrics.evaluate_segmentation` on the test canvases.
"""

import keras

from keras_adastride.segmentation.data import CLASS_NAMES, NUM_CLASSES, composite_split
from keras_adastride.segmentation.metrics import evaluate_segmentation, training_metrics

#: the comparison's variants: U-Net's downsampling variants, and the no-downsampling net of seed
#: 002 (``dilated_segnet``), which has no downsampling to vary and is listed as "nodown".
NODOWN = "nodown"
UNET_VARIANTS = ("original", "cas", "pas", "spd")
VARIANTS = (*UNET_VARIANTS, NODOWN)
#: U-Net's width at level 1: 8 gives a 0.49 M-parameter U-Net that trains on 2 CPU cores
BASE_FILTERS = 8
#: the main job's defaults (``--task segmentation``), also the serving fixture's recipe
CANVAS_SIZE, TRAIN_CANVASES, VAL_CANVASES, TEST_CANVASES = 64, 3000, 500, 1000
EPOCHS, BATCH_SIZE = 8, 32


def build_segmenter(variant, input_shape, num_classes=NUM_CLASSES, base_filters=BASE_FILTERS,
                    gate_options=None):
    """``unet(input_shape, num_classes, base_filters, downsampling=variant)`` for U-Net's
    variants, ``dilated_segnet(input_shape, num_classes)`` for "nodown"."""
    from keras_adastride import models

    if variant == NODOWN:
        return models.dilated_segnet(input_shape, num_classes, name="dilated_segnet")
    if variant not in UNET_VARIANTS:
        raise ValueError(f"argument `variant` must be one of {list(VARIANTS)}; received "
                         f"variant={variant!r}.")
    return models.unet(input_shape, num_classes, base_filters=base_filters, downsampling=variant,
                       gate_options=gate_options)


def fit_segmenter(model, data, *, seed, epochs, batch_size, learning_rate=1e-3, verbose=1,
                  jit_compile=False, backup_dir=None, callbacks=()):
    """Compile and fit ``model`` on ``data`` (``x_train, y_train, x_val, y_val``) after
    ``keras.utils.set_random_seed(seed)``; returns ``(history, timer)`` of
    :func:`keras_adastride.experiments.train.fit_run` (``backup_dir``: resume there)."""
    from keras_adastride.experiments.train import fit_run

    keras.utils.set_random_seed(seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy",
                  metrics=training_metrics(model.output_shape[-1]), jit_compile=jit_compile)
    return fit_run(model, data, seed=seed, epochs=epochs, batch_size=batch_size, verbose=verbose,
                   backup_dir=backup_dir, callbacks=callbacks)


def test_scores(model, data, class_names=CLASS_NAMES):
    """Flat ``{name: value}`` scores of ``model`` on ``x_test, y_test``: ``test_pixel_accuracy``,
    ``test_mean_iou``, ``test_foreground_mean_iou`` and ``test_iou/<class name>``."""
    scores = evaluate_segmentation(model, data["x_test"], data["y_test"], len(class_names),
                                   class_names=class_names)
    flat = {f"test_{name}": scores[name]
            for name in ("pixel_accuracy", "mean_iou", "foreground_mean_iou")}
    flat.update({f"test_iou/{name}": value for name, value in scores["iou"].items()})
    return flat


#: canvases of the validation and test splits are the same for every seed (runs pair up on
#: the same test set); the training canvases are drawn from the run's seed
VAL_SEED, TEST_SEED = 10_001, 10_000


def split_for_seed(seed, train_canvases, val_canvases, test_canvases, canvas_size=64,
                   objects_per_canvas=(1, 3), multiple=16):
    """Model-ready canvases of one seed: ``x_train, y_train`` composed from ``seed``;
    ``x_val, y_val`` and ``x_test, y_test`` from fixed seeds (see the split pools in
    :mod:`keras_adastride.segmentation.data`); ``multiple``: 16 for U-Net."""
    parts = {"train": (train_canvases, seed), "val": (val_canvases, VAL_SEED),
             "test": (test_canvases, TEST_SEED)}
    data = {}
    for split, (count, split_seed) in parts.items():
        canvases = composite_split(split, count, canvas_size, objects_per_canvas, split_seed,
                                   multiple)
        data[f"x_{split}"], data[f"y_{split}"] = canvases["images"], canvases["masks"]
    return data


def train_segmentation_run(variant, seed, data, *, epochs, batch_size, learning_rate=1e-3,
                           verbose=1, gate_options=None, jit_compile=False, backup_dir=None,
                           distribute="none"):
    """Build, fit and score one run; returns ``(model, test scores, History, EpochTimer)``.

    ``distribute``: built and fitted under :func:`keras_adastride.experiments.distribute.
    distribution_scope`; scored after it: a Keras metric made inside a strategy of several
    replicas and updated outside a training step miscounts (measured: a ``MeanIoU`` made in
    the two-worker strategy counted 274 of 288 pixels, SyncOnRead integer variables)."""
    from keras_adastride.experiments.distribute import distribution_scope

    keras.utils.set_random_seed(seed)
    with distribution_scope(distribute):
        model = build_segmenter(variant, data["x_train"].shape[1:], gate_options=gate_options)
        history, timer = fit_segmenter(model, data, seed=seed, epochs=epochs,
                                       batch_size=batch_size, learning_rate=learning_rate,
                                       verbose=verbose, jit_compile=jit_compile,
                                       backup_dir=backup_dir)
    return model, test_scores(model, data), history, timer
