"""Training-image augmentation for the main job: Keras' own preprocessing layers, drawn per
batch from ``(seed, epoch, batch index)`` alone.

:data:`AUGMENTATIONS` names the transforms (``keras.layers.RandomFlip`` left-right,
``keras.layers.RandomTranslation`` by up to :data:`TRANSLATE_FACTOR` of the side in each
direction, nearest-pixel, zero fill: the pixels move, none is blurred or invented). A
:class:`BatchAugmenter` applies them to one batch through the layers'
``get_random_transformation`` / ``transform_images`` (the hooks of Keras' image preprocessing
layers) with a ``keras.random.SeedGenerator`` whose state is set from ``(seed, epoch, batch
index)`` before each batch, so that a run resumed at epoch ``e`` sees the batches an
uninterrupted one sees, and every variant of a seed sees the same augmented images. (A generator,
not an integer seed: ``RandomTranslation`` draws its vertical and horizontal shifts with the
seed it is given, so one integer would shift every image along the diagonal.)
Only training batches are augmented (``experiments.train.EpochShuffled``); validation and test
images never are.
"""

import numpy as np

#: the largest shift of ``translate``, as a fraction of the height / width.
TRANSLATE_FACTOR = 0.1

#: name -> keyword arguments of the Keras layer that does it.
AUGMENTATIONS = {
    "flip": ("RandomFlip", dict(mode="horizontal")),
    "translate": ("RandomTranslation", dict(height_factor=TRANSLATE_FACTOR,
                                            width_factor=TRANSLATE_FACTOR,
                                            fill_mode="constant", fill_value=0.0,
                                            interpolation="nearest")),
}


def check_augment(names, argument="augment"):
    """``names`` as a tuple of :data:`AUGMENTATIONS` keys (None or empty: no augmentation);
    a ``ValueError`` naming ``argument`` and the value for anything else."""
    if names is None:
        return None
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [name for name in names if not isinstance(name, str) or name not in AUGMENTATIONS]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"{argument} must be distinct names from {list(AUGMENTATIONS)}, got "
                         f"{argument}={names!r}" + (f" ({unknown[0]!r} is not one)" if unknown
                                                    else " (a name repeated)") + ".")
    return names or None


class BatchAugmenter:
    """``augmenter(images, epoch, index)``: the float32 batch (N, H, W, C) with each transform
    of ``names`` applied in order, each image drawn independently; the random draw depends on
    ``(seed, epoch, index)`` and the transform's position only."""

    def __init__(self, names, seed):
        import keras

        self.names = check_augment(names)
        if not self.names:
            raise ValueError(f"BatchAugmenter: argument `names` must name at least one of "
                             f"{list(AUGMENTATIONS)}; received names={names!r}.")
        self.seed = int(seed)
        self.layers = [getattr(keras.layers, AUGMENTATIONS[name][0])(**AUGMENTATIONS[name][1])
                       for name in self.names]
        self.generators = [keras.random.SeedGenerator(0) for _ in self.layers]

    def __call__(self, images, epoch, index):
        import keras

        x = keras.ops.convert_to_tensor(images)
        draws = np.random.default_rng([self.seed, epoch, index]).integers(
            0, 2 ** 31 - 1, size=len(self.layers))
        for layer, generator, draw in zip(self.layers, self.generators, draws):
            generator.state.assign(keras.ops.cast([draw, 0], generator.state.dtype))
            transformation = layer.get_random_transformation(x, training=True, seed=generator)
            x = layer.transform_images(x, transformation, training=True)
        return keras.ops.convert_to_numpy(x).astype(np.float32)
