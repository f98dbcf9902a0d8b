"""Fixtures of the serving tests."""

import keras
import numpy as np
import pytest
from serving_helpers import small_classifier


@pytest.fixture(scope="session")
def classifier():
    keras.utils.set_random_seed(1)
    return small_classifier()


@pytest.fixture(scope="session")
def images():
    return np.random.default_rng(0).integers(0, 256, (5, 28, 28, 1), dtype=np.uint8)
