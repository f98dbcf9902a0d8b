"""keras_adastride.tfmot.bridge: Keras 3 <-> tf_keras with the same layers, weights, outputs."""

import keras
import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras

import keras_adastride
from keras_adastride import models
from keras_adastride import tfmot as kat
from keras_adastride.tfmot.bridge import to_keras3, to_tf_keras


def _every_kind_model():
    """A Keras 3 functional model with each layer kind the builders use, random gates."""
    layers = keras.layers
    images = keras.Input((17, 17, 3), name="images")
    x = layers.ZeroPadding2D(1)(images)
    x = layers.Conv2D(8, 3, kernel_regularizer="l2", name="stem")(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU(6.0)(x)
    x = keras_adastride.CAS(8, 3, strides=2, padding="same", gate_init="random")(x)  # 9x9
    x = keras_adastride.PAS(padding="same", pool_mode="avg_max_concat",
                            gate_init="random")(x)  # 5x5x16
    x = layers.DepthwiseConv2D(3, padding="same")(x)
    x = layers.Conv2D(16, 1)(keras_adastride.SpatialPyramidPooling((3,))(x))  # YOLOX's SPP
    skip = keras_adastride.SpaceToDepthConv(16, 1, pad_to_multiple=True)(x)  # 3x3
    y = keras_adastride.SpaceToDepth(pad_to_multiple=True)(x)  # 3x3x64
    y = layers.Conv2D(16, 1, activation="relu")(y)
    x = layers.Add()([skip, y])
    up = layers.Conv2DTranspose(8, 2, strides=2)(x)
    x = layers.Concatenate()([up, layers.UpSampling2D()(x)])
    x = layers.MaxPooling2D()(x)
    x = layers.Activation("swish")(x)
    x = layers.Dropout(0.2)(layers.Flatten()(x))
    logits = layers.Dense(4, name="logits")(x)
    pooled = layers.Reshape((1, 1, 8))(layers.GlobalAveragePooling2D()(up))
    return keras.Model(images, {"logits": logits, "pooled": pooled}, name="every_kind")


def _assert_same(a, b, atol=1e-5):
    for x, y in zip(keras.tree.flatten(a), keras.tree.flatten(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol)


def test_every_layer_kind_goes_there_and_back(rng):
    model = _every_kind_model()
    # Non-trivial BN statistics, so that copying them is tested too.
    bn = next(l for l in model.layers if isinstance(l, keras.layers.BatchNormalization))
    bn.set_weights([rng.uniform(0.5, 2, size=w.shape) for w in bn.get_weights()])
    x = rng.uniform(size=(3, 17, 17, 3)).astype("float32")
    expected = model.predict(x, verbose=0)

    twin = to_tf_keras(model)
    assert isinstance(twin, tf_keras.Model)
    assert [l.name for l in twin.layers] == [l.name for l in model.layers]
    assert {type(l) for l in twin.layers} >= {kat.CAS, kat.PAS, kat.SpaceToDepthConv,
                                               kat.SpaceToDepth, kat.SpatialPyramidPooling}
    assert twin.get_layer("stem").kernel_regularizer.l2 == pytest.approx(0.01)
    _assert_same(twin.predict(x, verbose=0), expected)

    back = to_keras3(twin)
    assert isinstance(back, keras.Model) and back.name == "every_kind"
    assert {type(l) for l in back.layers} >= {keras_adastride.CAS, keras_adastride.PAS}
    outputs = back.predict(x, verbose=0)
    assert set(outputs) == {"logits", "pooled"}  # the output structure crosses as well
    _assert_same(outputs, expected)


def test_sequential_and_builder_models(rng):
    sequential = keras.Sequential([
        keras.Input((8, 8, 2)),
        keras_adastride.CAS(4, 3, gate_init="random"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3),
    ])
    x = rng.uniform(size=(2, 8, 8, 2)).astype("float32")
    _assert_same(to_tf_keras(sequential).predict(x, verbose=0), sequential.predict(x, verbose=0))
    # A builder's SPD variant: our AveragingKernel initializer crosses too.
    model = models.small_vgg((28, 28, 1), 10, downsampling="spd")
    twin = to_tf_keras(model)
    assert isinstance(twin.get_layer("block1_pool").conv.kernel_initializer, kat.AveragingKernel)
    x = rng.uniform(size=(2, 28, 28, 1)).astype("float32")
    _assert_same(twin.predict(x, verbose=0), model.predict(x, verbose=0))


class _Unregistered(keras.layers.Layer):
    def call(self, x):
        return x


@pytest.mark.parametrize("make, match", [
    (lambda x: keras.layers.Lambda(lambda t: t * 2, name="double")(x), "'double' of type Lambda"),
    (lambda x: _Unregistered(name="mine")(x), "'mine' of type _Unregistered"),
    (lambda x: keras.ops.add(x, 1.0), "op applied to symbolic tensors"),
    (lambda x: keras.layers.Conv2D(2, 1, kernel_initializer=keras.initializers.GlorotUniform(
        input_axes=[0]), name="odd")(x), "input_axes"),
])
def test_refuses_what_it_cannot_carry_naming_the_layer(make, match):
    inputs = keras.Input((4, 4, 2))
    with pytest.raises(ValueError, match=match):
        to_tf_keras(keras.Model(inputs, make(inputs)))


def test_tfmot_wrappers_are_refused_on_the_way_back():
    # Pruning and QAT themselves, and the pruned model's way back, run in test_matrix.py.
    inputs = tf_keras.Input((8, 8, 2))
    model = tf_keras.Model(inputs, kat.CAS(4, 3)(inputs))
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model)
    with pytest.raises(ValueError, match="strip_pruning"):
        to_keras3(pruned)
    with kat.quantize_scope():
        qat = tfmot.quantization.keras.quantize_apply(kat.quantize_annotate_model(model))
    with pytest.raises(ValueError, match="int8 TFLite"):
        to_keras3(qat)
    with pytest.raises(ValueError, match="expects a Keras 3 model"):
        to_tf_keras(qat)
