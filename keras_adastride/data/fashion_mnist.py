"""Fashion-MNIST (Zalando, 60,000 training and 10,000 test images, 28x28 grey, 10 classes).

Looked up in this order, nothing is downloaded:
1. the Keras cache (``$KERAS_HOME`` or ``~/.keras``, ``datasets/fashion-mnist/``), read through
   ``keras.datasets.fashion_mnist.load_data()`` when all four files are there;
2. Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist/``), the same
   four IDX files.
"""

import os

import numpy as np

from keras_adastride.data._idx import read_idx

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
INSTALL_COMMAND = "apt-get install dataset-fashion-mnist"
FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def _keras_home():
    """Keras' home folder as Keras itself resolved it (``$KERAS_HOME`` read at import time)."""
    try:
        from keras.src.backend.config import keras_home
    except ImportError:  # another Keras layout: the documented rule
        return os.path.expanduser(os.environ.get("KERAS_HOME", os.path.join("~", ".keras")))
    return os.path.expanduser(keras_home())


def keras_cache_dir():
    """The folder where ``keras.utils.get_file`` keeps Fashion-MNIST (same rule as Keras)."""
    base = _keras_home()
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")
    return os.path.join(base, "datasets", "fashion-mnist")


def _has_all_files(folder):
    return all(os.path.isfile(os.path.join(folder, name)) for name in FILES)


def load_fashion_mnist(keras_dir=None, debian_dir=DEBIAN_DIR):
    """Load Fashion-MNIST from local files.

    Args:
        keras_dir: the Keras cache folder to try first (default: :func:`keras_cache_dir`).
        debian_dir: the folder of Debian's ``dataset-fashion-mnist`` package.

    Returns:
        ``((x_train, y_train), (x_test, y_test))``: uint8 images of shape (60000, 28, 28) and
        (10000, 28, 28), uint8 labels 0..9 (see ``CLASS_NAMES``).

    Raises:
        FileNotFoundError: when neither folder holds the four files; the message names the
        command that installs them.
    """
    keras_dir = keras_cache_dir() if keras_dir is None else keras_dir
    if keras_dir == keras_cache_dir() and _has_all_files(keras_dir):
        import keras

        return keras.datasets.fashion_mnist.load_data()
    for folder in (keras_dir, debian_dir):
        if _has_all_files(folder):
            x_train, y_train, x_test, y_test = (read_idx(os.path.join(folder, n)) for n in FILES)
            return (x_train, y_train.astype(np.uint8)), (x_test, y_test.astype(np.uint8))
    raise FileNotFoundError(
        "Fashion-MNIST not found: looked for "
        f"{', '.join(FILES)} in {keras_dir!r} (Keras cache) and {debian_dir!r} (Debian). "
        f"Install it with `{INSTALL_COMMAND}` (or `sudo {INSTALL_COMMAND}`), or put the four "
        "files in the Keras cache folder."
    )
