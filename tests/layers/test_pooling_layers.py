"""SpatialPyramidPooling, NetVLAD, BilinearPooling, MaxPoolingWithArgmax2D / MaxUnpooling2D:
Keras's own layer test and NumPy (or TensorFlow) references."""

import numpy as np
import pytest
import tensorflow as tf
from keras.src import testing

import keras

from keras_adastride import (BilinearPooling, MaxPoolingWithArgmax2D, MaxUnpooling2D, NetVLAD,
                             SpatialPyramidPooling)
from backend_neutral import to_numpy, value_and_gradients
from layer_references import from_nhwc, random_images, to_nhwc
from pooling_references import window_reduce


class KerasLayerTest(testing.TestCase):
    """``run_layer_test``: config round trip, eager and symbolic calls, compute_output_shape,
    a training step in a model, mixed precision, saving."""

    def test_spatial_pyramid_pooling(self):
        self.run_layer_test(SpatialPyramidPooling, dict(pool_sizes=(3, 5)),
                            input_shape=(2, 6, 6, 2), expected_output_shape=(2, 6, 6, 6),
                            expected_num_trainable_weights=0, supports_masking=False)

    def test_netvlad(self):
        self.run_layer_test(NetVLAD, dict(num_clusters=3), input_shape=(2, 4, 5, 6),
                            expected_output_shape=(2, 18), expected_num_trainable_weights=3,
                            supports_masking=False)

    def test_bilinear_pooling(self):
        self.run_layer_test(BilinearPooling, {}, input_shape=(2, 4, 5, 3),
                            expected_output_shape=(2, 9), expected_num_trainable_weights=0,
                            supports_masking=False)

    def test_max_pooling_with_argmax(self):
        self.run_layer_test(MaxPoolingWithArgmax2D, dict(pool_size=2), input_shape=(2, 6, 6, 3),
                            expected_output_shape=[(2, 3, 3, 3), (2, 3, 3, 3)],
                            expected_output_dtype=["float32", "int32"],
                            supports_masking=False, run_training_check=False,
                            run_mixed_precision_check=False)

    def test_max_unpooling(self):
        values = random_images((2, 3, 3, 4))
        indices = np.random.default_rng(0).integers(0, 6 * 6 * 4, (2, 3, 3, 4)).astype("int32")
        self.run_layer_test(MaxUnpooling2D, dict(pool_size=2), input_data=[values, indices],
                            expected_output_shape=(2, 6, 6, 4), supports_masking=False,
                            run_training_check=False, run_mixed_precision_check=False)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("pool_sizes,input_position", [((5, 9, 13), "first"),
                                                        ((13, 9, 5), "last")])
def test_spatial_pyramid_pooling_equals_numpy(data_format, pool_sizes, input_position):
    x = random_images((2, 3, 11, 10) if data_format == "channels_first" else (2, 11, 10, 3))
    pooled = [window_reduce(x, np.max, k, 1, "same", data_format) for k in pool_sizes]
    maps = [x, *pooled] if input_position == "first" else [*pooled, x]
    expected = np.concatenate(maps, axis=1 if data_format == "channels_first" else -1)
    layer = SpatialPyramidPooling(pool_sizes, input_position=input_position,
                                  data_format=data_format)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, rtol=0, atol=0)


def _netvlad_reference(x, centers, kernel, bias, normalize_inputs):
    """NetVLAD with loops over images, clusters and positions (Arandjelović et al., eq. 4)."""
    out = []
    for image in x.astype(np.float64):
        descriptors = image.reshape(-1, image.shape[-1])
        if normalize_inputs:
            descriptors = descriptors / np.linalg.norm(descriptors, axis=1, keepdims=True)
        logits = descriptors @ kernel + bias
        soft = np.exp(logits - logits.max(1, keepdims=True))
        soft /= soft.sum(1, keepdims=True)
        vlad = np.zeros_like(centers, dtype=np.float64)
        for k in range(len(centers)):
            for i, descriptor in enumerate(descriptors):
                vlad[k] += soft[i, k] * (descriptor - centers[k])
            vlad[k] /= np.linalg.norm(vlad[k])
        flat = vlad.reshape(-1)
        out.append(flat / np.linalg.norm(flat))
    return np.stack(out)


@pytest.mark.parametrize("data_format,normalize_inputs", [("channels_last", True),
                                                          ("channels_first", False)])
def test_netvlad_equals_numpy(data_format, normalize_inputs):
    x = random_images((2, 4, 5, 6))
    layer = NetVLAD(3, normalize_inputs=normalize_inputs, bias_initializer="random_normal",
                    data_format=data_format)
    y = to_numpy(layer(from_nhwc(x, data_format)))
    centers, kernel, bias = (to_numpy(w) for w in (layer.centers, layer.kernel, layer.bias))
    expected = _netvlad_reference(x, centers, kernel, bias, normalize_inputs)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, rtol=1e-6)


def _bilinear_reference(a, b):
    out = []
    for image_a, image_b in zip(a.astype(np.float64), b.astype(np.float64)):
        z = sum(np.outer(pa, pb) for pa, pb in zip(image_a.reshape(-1, a.shape[-1]),
                                                   image_b.reshape(-1, b.shape[-1])))
        z = (np.sign(z) * np.sqrt(np.abs(z))).reshape(-1)
        out.append(z / np.linalg.norm(z))
    return np.stack(out)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_bilinear_pooling_equals_numpy(data_format):
    a, b = random_images((2, 4, 5, 3), seed=1), random_images((2, 4, 5, 2), seed=2)
    layer = BilinearPooling(data_format=data_format)
    two = to_numpy(layer([from_nhwc(a, data_format), from_nhwc(b, data_format)]))
    np.testing.assert_allclose(two, _bilinear_reference(a, b), rtol=1e-5, atol=1e-6)
    one = to_numpy(BilinearPooling(data_format=data_format)(from_nhwc(a, data_format)))
    np.testing.assert_allclose(one, _bilinear_reference(a, a), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pool_size,strides,padding", [(2, None, "valid"), (3, 2, "same"),
                                                       (3, 1, "valid")])
def test_max_pooling_with_argmax_equals_tf_nn(pool_size, strides, padding):
    x = random_images((2, 7, 8, 3))
    pooled, indices = MaxPoolingWithArgmax2D(pool_size, strides, padding=padding)(x)
    tf_pooled, tf_indices = tf.nn.max_pool_with_argmax(
        x, pool_size, strides or pool_size, padding.upper(), include_batch_in_index=False)
    np.testing.assert_array_equal(to_numpy(pooled), tf_pooled.numpy())
    np.testing.assert_array_equal(to_numpy(indices), tf_indices.numpy())


def test_argmax_indices_in_channels_first_address_the_image():
    x = random_images((2, 3, 7, 8))
    pooled, indices = MaxPoolingWithArgmax2D(3, 2, padding="same",
                                             data_format="channels_first")(x)
    picked = np.stack([x[n].reshape(-1)[to_numpy(indices)[n]] for n in range(2)])
    np.testing.assert_array_equal(picked, to_numpy(pooled))
    expected = window_reduce(x, np.max, 3, 2, "same", "channels_first")
    np.testing.assert_array_equal(to_numpy(pooled), expected.astype("float32"))


@pytest.mark.parametrize("data_format,pool_size,strides,padding", [
    ("channels_last", 2, None, "valid"), ("channels_first", 3, 2, "same"),
    ("channels_last", 3, 1, "same")])  # overlapping windows: a pixel can be picked twice
def test_unpooling_is_the_transpose_of_the_argmax_selection(data_format, pool_size, strides,
                                                            padding):
    x = random_images((2, 3, 7, 8) if data_format == "channels_first" else (2, 7, 8, 3))
    geometry = dict(pool_size=pool_size, strides=strides, padding=padding,
                    data_format=data_format)
    pooled, indices = MaxPoolingWithArgmax2D(**geometry)(x)
    y = random_images(pooled.shape, seed=3)
    unpooled = to_numpy(MaxUnpooling2D(**geometry)([y, indices, x]))
    expected = np.zeros_like(x)
    for n in range(2):
        np.add.at(expected[n].reshape(-1), to_numpy(indices)[n].reshape(-1), y[n].reshape(-1))
    np.testing.assert_allclose(unpooled, expected, rtol=1e-6)
    # ... which is the gradient of max pooling: <unpool(y), g> = <y, pool-select(g)>
    image, pool = keras.Variable(x), keras.layers.MaxPooling2D(**geometry)
    weights = keras.ops.convert_to_tensor(y)
    _, (gradient,) = value_and_gradients(lambda: keras.ops.sum(pool(image) * weights), [image])
    np.testing.assert_allclose(unpooled, gradient, rtol=1e-6, atol=1e-6)


def test_unpooling_default_size_and_unknown_sizes():
    inputs = keras.Input((None, None, 3))
    pooled, indices = MaxPoolingWithArgmax2D(2)(inputs)
    outputs = MaxUnpooling2D(2)([pooled, indices])
    model = keras.Model(inputs, outputs)
    x = random_images((1, 6, 4, 3))
    unpooled = to_numpy(model(x))
    assert unpooled.shape == x.shape
    kept = unpooled != 0  # one maximum per 2x2 window, in place
    np.testing.assert_array_equal(unpooled[kept], x[kept])
    assert kept.sum() == 3 * 2 * 3


@pytest.mark.parametrize("make,argument,value", [
    (lambda v: SpatialPyramidPooling(pool_sizes=v), "pool_sizes", (5, 8)),
    (lambda v: SpatialPyramidPooling(input_position=v), "input_position", "middle"),
    (lambda v: NetVLAD(v), "num_clusters", 0),
    (lambda v: NetVLAD(4, normalize_inputs=v), "normalize_inputs", "yes"),
    (lambda v: BilinearPooling(epsilon=v), "epsilon", -1.0),
    (lambda v: MaxUnpooling2D(pool_size=v), "pool_size", (2, 0)),
])
def test_bad_arguments_name_argument_and_value(make, argument, value):
    with pytest.raises(ValueError, match=argument) as error:
        make(value)
    assert repr(value) in str(error.value)


def test_bad_inputs_raise_value_errors():
    with pytest.raises(ValueError, match="same height and width"):
        BilinearPooling()([np.zeros((1, 4, 4, 2)), np.zeros((1, 5, 4, 2))])
    with pytest.raises(ValueError, match="list of two"):
        BilinearPooling()([np.zeros((1, 4, 4, 2))] * 3)
    with pytest.raises(ValueError, match=r"\[values, indices"):
        MaxUnpooling2D()(np.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match="rank 4"):
        NetVLAD(2)(np.zeros((1, 4, 2)))


def test_argmax_pooling_and_unpooling_under_mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    x = random_images((2, 6, 6, 3))
    pooled, indices = MaxPoolingWithArgmax2D(2)(x)
    dtype = keras.backend.standardize_dtype
    assert (dtype(pooled.dtype), dtype(indices.dtype)) == ("float16", "int32")
    unpooled = MaxUnpooling2D(2)([pooled, indices])
    assert dtype(unpooled.dtype) == "float16"
    reference, reference_indices = MaxPoolingWithArgmax2D(2, dtype="float32")(x)
    np.testing.assert_array_equal(to_numpy(indices), to_numpy(reference_indices))
    np.testing.assert_allclose(to_numpy(pooled).astype("float32"), to_numpy(reference), rtol=1e-3)
