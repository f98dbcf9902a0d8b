import gzip
import os

import numpy as np
import pytest

from keras_adastride.data import fashion_mnist
from keras_adastride.data._idx import read_idx
from keras_adastride.data.fashion_mnist import DEBIAN_DIR, FILES, load_fashion_mnist

needs_debian = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(DEBIAN_DIR, f)) for f in FILES),
    reason="apt-get install dataset-fashion-mnist",
)


@pytest.fixture(scope="module")
def fmnist():
    return load_fashion_mnist(keras_dir="/nonexistent", debian_dir=DEBIAN_DIR)


@needs_debian
def test_shapes_dtypes_and_labels(fmnist):
    (x_train, y_train), (x_test, y_test) = fmnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    for array in (x_train, y_train, x_test, y_test):
        assert array.dtype == np.uint8
    # Fashion-MNIST is balanced: 6,000 training and 1,000 test images per class 0..9.
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    assert x_train.max() == 255 and x_train.min() == 0


@needs_debian
def test_matches_plain_offset_parse_and_is_deterministic(fmnist):
    # Independent reference: what keras.datasets.fashion_mnist does (fixed header offsets).
    with gzip.open(os.path.join(DEBIAN_DIR, "t10k-images-idx3-ubyte.gz"), "rb") as f:
        reference = np.frombuffer(f.read(), np.uint8, offset=16).reshape(10000, 28, 28)
    with gzip.open(os.path.join(DEBIAN_DIR, "t10k-labels-idx1-ubyte.gz"), "rb") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    (_, _), (x_test, y_test) = fmnist
    np.testing.assert_array_equal(x_test, reference)
    np.testing.assert_array_equal(y_test, labels)
    (_, _), (x_again, _) = load_fashion_mnist(keras_dir="/nonexistent", debian_dir=DEBIAN_DIR)
    np.testing.assert_array_equal(x_again, x_test)


def test_missing_data_error_names_the_install_command(tmp_path):
    keras_dir, debian_dir = tmp_path / "keras", tmp_path / "debian"
    keras_dir.mkdir()
    debian_dir.mkdir()
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist") as info:
        load_fashion_mnist(keras_dir=str(keras_dir), debian_dir=str(debian_dir))
    assert str(keras_dir) in str(info.value) and str(debian_dir) in str(info.value)


@needs_debian
def test_keras_cache_is_read_through_keras_when_complete(tmp_path, monkeypatch):
    for name in FILES:
        os.symlink(os.path.join(DEBIAN_DIR, name), tmp_path / name)
    calls = []
    monkeypatch.setattr(fashion_mnist, "keras_cache_dir", lambda: str(tmp_path))
    import keras

    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data",
                        lambda: calls.append(1) or "from keras")
    assert load_fashion_mnist(debian_dir="/nonexistent") == "from keras"
    assert calls == [1]


def test_read_idx_round_trip_and_bad_header(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + np.array(array.shape, ">u4").tobytes()
    path = tmp_path / "a-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())
    np.testing.assert_array_equal(read_idx(str(path)), array)
    bad = tmp_path / "bad"
    bad.write_bytes(bytes([0, 0, 13, 1, 0, 0, 0, 1, 0]))
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(str(bad))
    short = tmp_path / "short"
    short.write_bytes(header + array.tobytes()[:-1])
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(str(short))
