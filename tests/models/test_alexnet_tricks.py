"""AlexNet "with the usual tricks" (the PAS paper's Table 4): the ``small_tricks`` preset is the
small layout with conv -> BatchNormalization -> ReLU at every conv and dropout before both hidden
dense layers; its parameter count is computed here from the layer formulas, not from the preset."""

import pytest

import keras

from keras_adastride import CAS, PAS, models


def conv(k, cin, cout):
    return k * k * cin * cout + cout  # kernel + bias


def dense(nin, nout):
    return nin * nout + nout


def batch_norm(c):
    return 4 * c  # gamma, beta (trained) + moving mean, variance (Keras counts them)


def test_parameter_count_from_the_layer_formulas():
    # 28x28x1 -> conv1 5x5/32 -> pool1 14 -> conv2 5x5/64 -> pool2 7 -> conv3, conv4 3x3/128,
    # conv5 3x3/64 -> pool3 4 ("same" 3x3 pools of stride 2) -> 4*4*64 -> 512 -> 512 -> 10
    convs = conv(5, 1, 32) + conv(5, 32, 64) + conv(3, 64, 128) + conv(3, 128, 128) + conv(
        3, 128, 64)
    norms = sum(batch_norm(c) for c in (32, 64, 128, 128, 64))
    top = dense(4 * 4 * 64, 512) + dense(512, 512) + dense(512, 10)
    tricks = models.alexnet((28, 28, 1), 10, preset="small_tricks")
    assert tricks.count_params() == convs + norms + top == 1_141_578
    # the plain small preset is the same net without the 416-channel batch norms
    assert models.alexnet((28, 28, 1), 10, preset="small").count_params() == convs + top
    non_trainable = sum(int(w.shape[0]) for w in tricks.non_trainable_weights)
    assert non_trainable == 2 * (32 + 64 + 128 + 128 + 64)


def test_every_conv_is_followed_by_batch_norm_then_relu():
    model = models.alexnet((28, 28, 1), 10, preset="small_tricks", downsampling="cas")
    names = [layer.name for layer in model.layers]
    for i in range(1, 6):
        conv_layer = model.get_layer(f"conv{i}")
        assert conv_layer.get_config()["activation"] in ("linear", None)  # the ReLU comes later
        j = names.index(f"conv{i}")
        assert names[j + 1:j + 3] == [f"conv{i}_bn", f"conv{i}_relu"]
        assert isinstance(model.layers[j + 1], keras.layers.BatchNormalization)
    assert [type(model.get_layer(n)) for n in ("conv1", "conv3")] == [CAS, CAS]
    rates = [model.get_layer(f"fc{i}_dropout").rate for i in (1, 2)]
    assert rates == [0.5, 0.5]
    pas = models.alexnet((28, 28, 1), 10, preset="small_tricks", downsampling="pas")
    assert isinstance(pas.get_layer("pool2"), PAS) and "conv2_bn" in [
        layer.name for layer in pas.layers]


def test_batch_norm_normalises_in_training_only():
    """At inference conv1_bn's fresh moving statistics (0, 1) only divide conv1's output by
    sqrt(1 + epsilon); in training it normalises with the batch's statistics per channel (NumPy
    reference, epsilon 1e-3)."""
    import numpy as np

    model = models.alexnet((28, 28, 1), 10, preset="small_tricks")
    probe = keras.Model(model.input, [model.get_layer("conv1").output,
                                      model.get_layer("conv1_bn").output])
    x = np.random.default_rng(0).random((16, 28, 28, 1), "float32")
    conv_out, infer_out = (keras.ops.convert_to_numpy(t) for t in probe(x, training=False))
    np.testing.assert_allclose(infer_out, conv_out / np.sqrt(1 + 1e-3), rtol=1e-4, atol=1e-6)
    _, train_out = (keras.ops.convert_to_numpy(t) for t in probe(x, training=True))
    mean, var = conv_out.mean(axis=(0, 1, 2)), conv_out.var(axis=(0, 1, 2))
    np.testing.assert_allclose(train_out, (conv_out - mean) / np.sqrt(var + 1e-3), rtol=1e-3,
                               atol=1e-4)


def test_a_bad_preset_is_named():
    with pytest.raises(ValueError, match=r"'small_tricks'.*received preset='tricks'"):
        models.alexnet((28, 28, 1), 10, preset="tricks")
