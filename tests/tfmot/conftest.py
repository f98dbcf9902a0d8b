"""Shared fixtures: real Fashion-MNIST slices and a small tf_keras model mixing our layers."""

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot  # noqa: F401  (switches tf.keras to tf_keras)
import tf_keras

from keras_adastride import tfmot as kat
from keras_adastride.data import load_fashion_mnist


@pytest.fixture(scope="session")
def fashion():
    """3,000 training and 2,000 test images, float32 in [0, 1], shape (N, 28, 28, 1)."""
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    prepare = lambda x: (x[..., None] / 255.0).astype("float32")  # noqa: E731
    return prepare(x_train[:3000]), y_train[:3000], prepare(x_test[:2000]), y_test[:2000]


def build_mixed_model(prune_gate=True):
    """Conv2D, CAS, MaxPooling2D, SpaceToDepthConv, PAS, SpaceToDepth, Dense: 28x28x1 -> 10."""
    layers = tf_keras.layers
    return tf_keras.Sequential(
        [
            tf_keras.Input((28, 28, 1)),
            layers.Conv2D(8, 3, padding="same", activation="relu"),
            kat.CAS(16, 3, padding="same", activation="relu", gate_width=8, prune_gate=prune_gate),
            layers.MaxPooling2D(),  # 14x14
            kat.SpaceToDepthConv(16, 3, padding="same", activation="relu"),  # 7x7
            kat.PAS(padding="same", gate_width=8, prune_gate=prune_gate),  # 4x4
            kat.SpaceToDepth(),  # 2x2x64
            layers.Flatten(),
            layers.Dense(10),
        ]
    )


def compile_model(model):
    model.compile(
        tf_keras.optimizers.Adam(2e-3),
        tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


@pytest.fixture(scope="session")
def trained_model(fashion):
    """The mixed model after one epoch on 3,000 real images."""
    x, y, _, _ = fashion
    tf_keras.utils.set_random_seed(0)
    model = compile_model(build_mixed_model())
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    return model


def clone_with_weights(model):
    clone = tf_keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


@pytest.fixture
def rng():
    return np.random.default_rng(0)
