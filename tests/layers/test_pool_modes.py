"""PAS's pool modes against NumPy loops, for every padding, stride and data format PAS takes."""

import numpy as np
import pytest

import keras

from keras_adastride import PAS
from keras_adastride.layers import _PaddingFreeAveragePooling2D
from keras_adastride.layers.pooling.pool_modes import POOL_MODES
from backend_neutral import to_numpy
from layer_references import random_images
from pooling_references import pas_mode_reference, stochastic_draw, window_reduce

GEOMETRIES = [  # pool_size, strides, padding, data_format
    (2, None, "valid", "channels_last"),
    (3, 2, "same", "channels_last"),
    ((2, 3), (1, 2), "same", "channels_first"),
    (3, 1, "valid", "channels_first"),
    (2, 2, "same", "channels_last"),  # even window overhanging the image: medians of 1, 2, 4
]


def _input(data_format, rows=7, cols=8, channels=3):
    shape = (2, channels, rows, cols) if data_format == "channels_first" else (2, rows, cols, channels)
    return random_images(shape)


@pytest.mark.parametrize("mode", sorted(POOL_MODES))
@pytest.mark.parametrize("pool_size,strides,padding,data_format", GEOMETRIES)
def test_pas_initial_map_equals_numpy_reference(mode, pool_size, strides, padding, data_format):
    x = _input(data_format)
    geometry = dict(pool_size=pool_size, strides=strides, padding=padding, data_format=data_format)
    pas = PAS(pool_mode=mode, gate_init="identity", **geometry)
    expected = pas_mode_reference(x, mode, **geometry)
    # The identity gate is exactly 1: the output is the initial map (inference for stochastic).
    np.testing.assert_allclose(to_numpy(pas(x)), expected, rtol=1e-6, atol=1e-6)
    assert pas.compute_output_shape(x.shape) == expected.shape


@pytest.mark.parametrize("pool_size,strides,padding,data_format", GEOMETRIES)
def test_padding_free_average_pooling_equals_numpy_on_every_backend(pool_size, strides, padding,
                                                                     data_format):
    # What PAS averages with on torch (whose AveragePooling2D replicates uneven "same" padding).
    x = _input(data_format)
    geometry = dict(pool_size=pool_size, strides=strides, padding=padding, data_format=data_format)
    pooled = to_numpy(_PaddingFreeAveragePooling2D(**geometry)(x))
    np.testing.assert_allclose(pooled, window_reduce(x, np.mean, **geometry), rtol=1e-6, atol=1e-6)


def test_avg_max_add_is_twice_avg_max_mean():
    x = _input("channels_last")
    add = to_numpy(PAS(pool_mode="avg_max_add")(x))
    mean = to_numpy(PAS(pool_mode="avg_max_mean")(x))
    np.testing.assert_allclose(add, 2 * mean, rtol=1e-6)


@pytest.mark.parametrize("pool_size,strides,padding,data_format", GEOMETRIES[:3])
def test_pas_stochastic_training_draw_equals_numpy_inverse_cdf(pool_size, strides, padding,
                                                                data_format):
    x = _input(data_format)
    geometry = dict(pool_size=pool_size, strides=strides, padding=padding, data_format=data_format)
    pas = PAS(pool_mode="stochastic", **geometry)
    pas.window_pool.seed_generator = keras.random.SeedGenerator(7)  # before build: a known draw
    drawn = to_numpy(pas(x, training=True))  # training reaches the pooling sublayer
    uniform = to_numpy(keras.random.uniform(drawn.shape, seed=keras.random.SeedGenerator(7)))
    expected = window_reduce(x, stochastic_draw, per_output=uniform, **geometry)
    np.testing.assert_array_equal(drawn, expected.astype("float32"))
    assert not np.allclose(drawn, to_numpy(pas(x, training=False)))


@pytest.mark.parametrize("mode", ["median", "stochastic"])
def test_sparse_inference_rejects_window_pool_modes(mode):
    with pytest.raises(ValueError, match=f"pool_mode={mode!r}"):
        PAS(pool_mode=mode, sparse_inference=True)
