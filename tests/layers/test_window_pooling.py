"""StochasticPooling2D and MedianPooling2D: Keras's own layer test, NumPy references, seeding."""

import numpy as np
import pytest
from keras.src import testing

import keras

from keras_adastride import MedianPooling2D, StochasticPooling2D
from layer_references import random_images
from pooling_references import (POOL_REDUCERS, stochastic_draw, stochastic_expectation,
                                window_reduce)

GEOMETRIES = [  # pool_size, strides, padding, data_format
    (2, None, "valid", "channels_last"),
    (3, 2, "same", "channels_first"),
    ((2, 3), (1, 2), "same", "channels_last"),
]


class KerasLayerTest(testing.TestCase):
    """``run_layer_test``: config round trip, eager and symbolic calls, compute_output_shape,
    a training step in a model, mixed precision, saving."""

    def test_median_pooling(self):
        self.run_layer_test(
            MedianPooling2D, dict(pool_size=3, strides=2, padding="same"),
            input_shape=(2, 7, 8, 3), expected_output_shape=(2, 4, 4, 3),
            expected_num_trainable_weights=0, expected_num_non_trainable_weights=0,
            supports_masking=False,
        )

    def test_stochastic_pooling(self):
        self.run_layer_test(
            StochasticPooling2D, dict(pool_size=2, seed=3), input_shape=(2, 6, 6, 3),
            expected_output_shape=(2, 3, 3, 3), expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0, expected_num_seed_generators=1,
            supports_masking=False,
        )


@pytest.mark.parametrize("pool_size,strides,padding,data_format", GEOMETRIES)
def test_median_pooling_equals_numpy_median(pool_size, strides, padding, data_format):
    geometry = dict(pool_size=pool_size, strides=strides, padding=padding, data_format=data_format)
    x = random_images((2, 3, 7, 8) if data_format == "channels_first" else (2, 7, 8, 3))
    expected = window_reduce(x, POOL_REDUCERS["median"], **geometry)
    np.testing.assert_allclose(np.asarray(MedianPooling2D(**geometry)(x)), expected, rtol=1e-6)


@pytest.mark.parametrize("pool_size,strides,padding,data_format", GEOMETRIES)
def test_stochastic_pooling_equals_numpy_in_training_and_inference(pool_size, strides, padding,
                                                                   data_format):
    geometry = dict(pool_size=pool_size, strides=strides, padding=padding, data_format=data_format)
    x = random_images((2, 3, 7, 8) if data_format == "channels_first" else (2, 7, 8, 3))
    layer = StochasticPooling2D(seed=11, **geometry)
    inferred = np.asarray(layer(x))
    np.testing.assert_allclose(inferred, window_reduce(x, stochastic_expectation, **geometry),
                               rtol=1e-6, atol=1e-7)
    drawn = np.asarray(layer(x, training=True))
    uniform = keras.random.uniform(drawn.shape, seed=keras.random.SeedGenerator(11))
    expected = window_reduce(x, stochastic_draw, per_output=np.asarray(uniform), **geometry)
    np.testing.assert_array_equal(drawn, expected.astype("float32"))


def test_stochastic_draws_follow_the_normalised_activations():
    # One 2x2 window, 20,000 independent draws (batch), and a negative entry that is never drawn.
    window = np.array([[1.0, 3.0], [-2.0, 4.0]], "float32")
    x = np.broadcast_to(window[None, :, :, None], (20000, 2, 2, 1))
    drawn = np.asarray(StochasticPooling2D(2, seed=1)(x, training=True)).reshape(-1)
    frequencies = [np.mean(drawn == value) for value in (1.0, 3.0, 0.0, 4.0)]
    np.testing.assert_allclose(frequencies, [1 / 8, 3 / 8, 0, 4 / 8], atol=0.015)  # ~4 sigma


def test_stochastic_pooling_is_deterministic_under_the_global_seed():
    x = np.abs(random_images((2, 8, 8, 3)))

    def draw(seed):
        keras.utils.set_random_seed(seed)
        layer = StochasticPooling2D()
        return np.asarray(layer(x, training=True)), np.asarray(layer(x, training=True))

    first, second = draw(5)
    again, _ = draw(5)
    other, _ = draw(6)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, second)  # the generator advances between calls
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("layer_class", [MedianPooling2D, StochasticPooling2D])
def test_unknown_spatial_sizes(layer_class):
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, layer_class(3, 2, padding="same")(inputs))
    for rows, cols in ((7, 9), (4, 4)):
        x = np.abs(random_images((1, rows, cols, 3)))
        expected = layer_class(3, 2, padding="same")(x)
        np.testing.assert_allclose(np.asarray(model(x)), np.asarray(expected), rtol=1e-6)


@pytest.mark.parametrize("layer_class", [MedianPooling2D, StochasticPooling2D])
@pytest.mark.parametrize("argument,value", [("pool_size", 0), ("strides", (1, -1)),
                                            ("padding", "full"), ("data_format", "nhwc")])
def test_bad_arguments_name_argument_and_value(layer_class, argument, value):
    with pytest.raises(ValueError, match=f"{argument}.*{value!r}".replace("(", r"\(")
                       .replace(")", r"\)")):
        layer_class(**{argument: value})


def test_bad_seed_and_input_rank():
    with pytest.raises(ValueError, match=r"seed.*'1'"):
        StochasticPooling2D(seed="1")
    with pytest.raises(ValueError, match="rank 4"):
        MedianPooling2D()(np.zeros((2, 4, 4), "float32"))
