"""Shared fixtures: real Fashion-MNIST slices and a small tf_keras model mixing our layers."""

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot  # noqa: F401  (switches tf.keras to tf_keras)
import tf_keras

from keras_adastride.data import load_fashion_mnist
from tfmot_models import build_mixed_model, compile_model


@pytest.fixture(scope="session")
def fashion():
    """3,000 training and 2,000 test images, float32 in [0, 1], shape (N, 28, 28, 1)."""
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    prepare = lambda x: (x[..., None] / 255.0).astype("float32")  # noqa: E731
    return prepare(x_train[:3000]), y_train[:3000], prepare(x_test[:2000]), y_test[:2000]


@pytest.fixture(scope="session")
def trained_model(fashion):
    """The mixed model after one epoch on 3,000 real images."""
    x, y, _, _ = fashion
    tf_keras.utils.set_random_seed(0)
    model = compile_model(build_mixed_model())
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    return model


@pytest.fixture
def rng():
    return np.random.default_rng(0)
