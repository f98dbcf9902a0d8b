"""Gradients reach every gate weight; model.fit learns; target_stride adds its loss; the
effective stride is S * sqrt(positions / kept positions)."""

import math

import numpy as np
import pytest

import keras

from backend_neutral import repeated_value_and_gradients, to_numpy, value_and_gradients
from keras_adastride import CAS, PAS, SpaceToDepthConv, StrideGate
from layer_references import random_images


def _gradients(layer, x):
    layer(x)  # builds the weights to differentiate
    _, grads = value_and_gradients(lambda: keras.ops.sum(layer(x, training=True) ** 2),
                                   layer.trainable_weights)
    return dict(zip([v.path for v in layer.trainable_weights], grads))


LAYERS = [
    (CAS, dict(filters=4, kernel_size=3, strides=2, padding="same")),
    (CAS, dict(filters=4, kernel_size=3, groups=2, gate_channels="per_channel",
               gate_hidden_kernel_size=3)),
    (CAS, dict(filters=4, kernel_size=3, gate_activation="scaled_sigmoid", use_bias=False)),
    (PAS, dict(pool_mode="avg_max_concat", gate_channels="per_channel")),
    (PAS, dict(pool_size=3, strides=2, padding="same", gate_activation="softplus")),
    (StrideGate, dict(kernel_size=3, depth=4)),
]


@pytest.mark.parametrize("layer_class,kwargs", LAYERS, ids=[c.__name__ for c, _ in LAYERS])
def test_gradients_reach_every_gate_weight(layer_class, kwargs):
    init = "initialization" if layer_class is StrideGate else "gate_init"
    layer = layer_class(**kwargs, **{init: "random"})
    x = random_images((2, 8, 8, 4))
    grads = _gradients(layer, x)
    gate = layer if layer_class is StrideGate else layer.gate
    gate_paths = {v.path for v in gate.trainable_weights}
    assert len(gate_paths) == 2 * gate.depth
    for path, grad in grads.items():
        assert grad is not None and np.abs(grad).max() > 0, path


@pytest.mark.parametrize("layer_class,kwargs", LAYERS[:4], ids=[c.__name__ for c, _ in LAYERS[:4]])
def test_identity_gate_hidden_convs_learn_after_one_step(layer_class, kwargs):
    """With the last gate conv zero-filled, the first step moves only it; the second reaches
    the hidden convs."""
    layer = layer_class(**kwargs, gate_init="identity")
    x = random_images((2, 8, 8, 4))
    layer.build(x.shape)
    gate = layer.gate
    hidden = {v.path for v in gate.kernels[:-1] + gate.biases[:-1]}
    last = {gate.kernels[-1].path, gate.biases[-1].path}
    grads = _gradients(layer, x)
    for path in hidden:
        np.testing.assert_array_equal(grads[path], 0.0)
    for path in last:
        assert np.abs(grads[path]).max() > 0, path
    keras.optimizers.SGD(1e-3).apply([keras.ops.convert_to_tensor(g) for g in grads.values()],
                                     layer.trainable_weights)
    grads = _gradients(layer, x)
    for path in hidden | last:
        assert np.abs(grads[path]).max() > 0, path


def test_fit_lowers_the_loss_on_a_learnable_task():
    """Which half (top or bottom) of a noise image holds a bright square."""
    rng = np.random.default_rng(0)
    x = 0.3 * rng.standard_normal((192, 12, 12, 1)).astype("float32")
    y = rng.integers(0, 2, 192)
    for image, label, row, col in zip(x, y, rng.integers(0, 3, 192), rng.integers(0, 9, 192)):
        top = row + (6 * label)
        image[top:top + 3, col:col + 3] += 2.0
    inputs = keras.Input((12, 12, 1))
    h = CAS(8, 3, strides=2, padding="same", activation="relu", gate_init="random",
            target_stride=1.5)(inputs)
    h = PAS(2, pool_mode="avg_max_concat", gate_init="random")(h)
    h = SpaceToDepthConv(8, 1, activation="relu", pad_to_multiple=True)(h)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(h))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    before = model.evaluate(x, y, verbose=0)[0]
    history = model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    after, accuracy = model.evaluate(x, y, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert after < 0.5 * before
    assert accuracy > 0.9


def _numpy_target_loss(pre_activation, target, weight):
    """Per image: lowest n·(1 - 1/target²) pre-activations should be <= 0, the others > 0."""
    per_image = []
    for z in pre_activation.reshape(len(pre_activation), -1):
        ranked = np.sort(z)
        drop = int(np.floor(ranked.size * (1 - 1 / target**2) + 1e-9))
        violation = np.maximum(ranked[:drop], 0).sum() + np.maximum(-ranked[drop:], 0).sum()
        per_image.append(violation / ranked.size / (np.abs(ranked).mean() + 1e-6))
    return weight * np.mean(per_image)


def _pre_activation(layer, x):
    """The gate's last conv output z (gate = act(z)), from the gate's own (unfused) stack."""
    return to_numpy(layer.gate.run_stack(x)[0])


@pytest.mark.parametrize("layer_class,kwargs", [
    (CAS, dict(filters=4, kernel_size=3, strides=2)),
    (CAS, dict(filters=4, kernel_size=3, groups=2, gate_channels="per_channel")),
    (PAS, dict(pool_size=2, strides=1)),
])
def test_target_stride_adds_its_loss(layer_class, kwargs):
    x = random_images((2, 9, 9, 4))
    layer = layer_class(**kwargs, gate_init="random", target_stride=1.2, target_stride_weight=0.3)
    plain = layer_class(**kwargs, gate_init="random")
    layer(x)
    assert len(layer.losses) == 1 and plain(x) is not None and plain.losses == []
    expected = _numpy_target_loss(_pre_activation(layer, x), 1.2, 0.3)
    assert expected > 0
    layer(x)  # losses are reset per call: still one entry
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), expected, rtol=1e-5)
    # In a model, the loss reaches model.losses and thus fit's total loss.
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    model(x)
    assert len(model.losses) == 1
    np.testing.assert_allclose(float(model.losses[0]), expected, rtol=1e-5)


def _train_on_budget_loss(layer, x, steps):
    optimizer = keras.optimizers.Adam(1e-2)
    losses = []

    def budget_loss():
        layer(x, training=True)
        return layer.losses[0]

    step = repeated_value_and_gradients(budget_loss, layer.trainable_weights)
    for _ in range(steps):
        loss, grads = step()
        losses.append(loss)
        optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], layer.trainable_weights)
    return losses


@pytest.mark.parametrize("target_stride", [1.5, 2.0, 3.0])
def test_target_stride_budget_is_met_from_the_identity_start(target_stride):
    """Trained on its loss alone, the gate keeps exactly 1/target_stride² of each image."""
    x = random_images((8, 12, 12, 3))
    layer = CAS(4, 3, strides=2, padding="same", target_stride=target_stride,
                target_stride_weight=1.0)
    layer(x)
    assert layer.effective_stride(x) == pytest.approx(2.0)  # identity start: all kept
    losses = _train_on_budget_loss(layer, x, steps=200)
    assert losses[0] > 0.1 and losses[-1] < 0.01 * losses[0]
    gate = to_numpy(layer.gate_map(x)).reshape(len(x), -1)
    kept = (gate > 0).mean(axis=1)
    np.testing.assert_allclose(kept, 1 / target_stride**2, atol=0.03)  # 36 positions per image
    assert layer.effective_stride(x) == pytest.approx(2.0 * target_stride, rel=0.08)


def test_target_stride_revives_a_gate_that_dropped_everything():
    x = random_images((8, 12, 12, 3))
    layer = PAS(2, target_stride=2, target_stride_weight=1.0)
    layer(x)
    bias = layer.gate.biases[-1]
    bias.assign(bias - 3.0)  # pre-activation 1 - 3 < 0 everywhere: every position dropped
    assert layer.effective_stride(x) == math.inf
    _train_on_budget_loss(layer, x, steps=200)
    kept = (to_numpy(layer.gate_map(x)) > 0).mean()
    assert kept == pytest.approx(0.25, abs=0.03)


@pytest.mark.parametrize("strides", [1, 2, (2, 3)])
@pytest.mark.parametrize("gate_channels", ["single", "per_channel"])
def test_effective_stride_matches_numpy_count(strides, gate_channels):
    x = random_images((3, 10, 10, 3))
    layer = CAS(4, 3, strides=strides, gate_init="random", gate_channels=gate_channels)
    gate = to_numpy(layer.gate_map(x))
    kept = np.count_nonzero(gate > 0)
    assert 0 < kept < gate.size  # the random ReLU gate drops some positions, keeps others
    s = strides if isinstance(strides, tuple) else (strides, strides)
    expected = math.sqrt(s[0] * s[1]) * math.sqrt(gate.size / kept)
    assert layer.effective_stride(x) == pytest.approx(expected, rel=1e-9)


def test_effective_stride_of_identity_gate_is_the_fixed_stride():
    x = random_images((2, 9, 9, 3))
    assert CAS(4, 3, strides=2).effective_stride(x) == pytest.approx(2.0)
    assert PAS(3, strides=3).effective_stride(x) == pytest.approx(3.0)


@pytest.mark.parametrize("layer_class", [CAS, SpaceToDepthConv])
def test_regularizers_add_their_losses(layer_class):
    x = random_images((2, 8, 8, 3))
    layer = layer_class(4, 3, kernel_regularizer=keras.regularizers.L2(0.5),
                        activity_regularizer=keras.regularizers.L1(0.25))
    out = to_numpy(layer(x))
    kernel = to_numpy(layer.conv.kernel)
    expected = sorted([0.5 * np.sum(kernel**2), 0.25 * np.sum(np.abs(out)) / out.shape[0]])
    np.testing.assert_allclose(sorted(float(v) for v in layer.losses), expected, rtol=1e-5)


@pytest.mark.parametrize("layer", [lambda: CAS(4, 3, strides=2, padding="same"), lambda: PAS(2)])
def test_gate_queries_before_the_first_call_build_the_whole_layer(layer):
    layer = layer()
    x = random_images((2, 12, 12, 3))
    assert layer.effective_stride(x) == pytest.approx(2.0)
    assert layer(x).shape[1:3] == (6, 6)  # the layer still builds its main op afterwards
