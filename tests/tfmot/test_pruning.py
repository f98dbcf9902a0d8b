"""Magnitude pruning with TFMOT on a model mixing standard and our layers."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras
from tfmot_models import build_mixed_model, clone_with_weights, compile_model

from keras_adastride import tfmot as kat
from keras_adastride.tfmot.measure import kernel_sparsity
from keras_adastride.tfmot.tflite import tflite_predict, to_tflite

sparsity_api = tfmot.sparsity.keras


def test_prunable_weights():
    cas = kat.CAS(4, 3, gate_width=8)
    cas.build((None, 8, 8, 2))
    # Gate kernels: 3x3x2x8 and 1x1x8x8 pruned; the last, 1x1x8x1 (8 weights), stays dense.
    assert [tuple(w.shape) for w in cas.gate.kernels] == [(3, 3, 2, 8), (1, 1, 8, 8), (1, 1, 8, 1)]
    assert cas.get_prunable_weights() == [cas.conv.kernel, *cas.gate.kernels[:2]]
    wide = kat.CAS(4, 3, gate_width=8, gate_channels="per_channel", gate_hidden_kernel_size=3)
    wide.build((None, 8, 8, 2))
    assert wide.get_prunable_weights() == [wide.conv.kernel, *wide.gate.kernels]
    dense_gate = kat.CAS(4, 3, prune_gate=False)
    dense_gate.build((None, 8, 8, 2))
    assert dense_gate.get_prunable_weights() == [dense_gate.conv.kernel]
    pas = kat.PAS(prune_gate=False)
    pas.build((None, 8, 8, 2))
    assert pas.get_prunable_weights() == []
    spd = kat.SpaceToDepthConv(3, 1)
    spd.build((None, 8, 8, 2))
    assert spd.get_prunable_weights() == [spd.conv.kernel]


def _prune(model, data, target, epochs=1):
    x, y = data
    schedule = sparsity_api.ConstantSparsity(target, begin_step=0, frequency=5)
    pruned = compile_model(sparsity_api.prune_low_magnitude(model, pruning_schedule=schedule))
    pruned.fit(
        x, y, batch_size=64, epochs=epochs, verbose=0,
        callbacks=[sparsity_api.UpdatePruningStep()],
    )
    return sparsity_api.strip_pruning(pruned)


@pytest.fixture(scope="module", params=[0.5, 0.8])
def stripped(request, trained_model, fashion):
    x, y, _, _ = fashion
    tf_keras.utils.set_random_seed(1)
    model = clone_with_weights(trained_model)
    return request.param, _prune(model, (x[:1000], y[:1000]), request.param)


def test_every_pruned_kernel_reaches_its_target(stripped):
    target, model = stripped
    sparsity = kernel_sparsity(model)
    # Conv2D, Dense + CAS (conv + 2 gate) + PAS (2 gate) + SpaceToDepthConv; the gates' last
    # kernels (1x1x8x1) are too small to prune.
    assert len(sparsity) == 8
    for name, value in sparsity.items():
        assert abs(value - target) <= 0.01, (name, value)
    assert {type(layer).__name__ for layer in model.layers} >= {"CAS", "PAS", "SpaceToDepthConv"}


def test_stripped_model_saves_loads_exports_and_converts(stripped, fashion, tmp_path):
    _, model = stripped
    _, _, x_test, _ = fashion
    expected = model.predict(x_test, verbose=0)
    model.save(tmp_path / "pruned.keras")
    loaded = tf_keras.models.load_model(tmp_path / "pruned.keras")
    np.testing.assert_allclose(loaded.predict(x_test[:64], verbose=0), expected[:64], atol=1e-6)
    assert kernel_sparsity(loaded) == kernel_sparsity(model)

    model.export(str(tmp_path / "serving"))
    restored = tf.saved_model.load(str(tmp_path / "serving"))
    np.testing.assert_allclose(restored.serve(x_test[:64]).numpy(), expected[:64], atol=1e-5)

    predictions = tflite_predict(to_tflite(model), x_test)
    agreement = np.mean(predictions.argmax(1) == expected.argmax(1))
    assert agreement >= 0.99, agreement


def test_gate_stays_dense_with_prune_gate_false(trained_model, fashion):
    x, y, _, _ = fashion
    model = build_mixed_model(prune_gate=False)
    model.set_weights(trained_model.get_weights())
    stripped = _prune(model, (x[:320], y[:320]), 0.8)
    sparsity = kernel_sparsity(stripped)
    assert len(sparsity) == 4  # Conv2D, CAS conv, SpaceToDepthConv, Dense
    cas = next(layer for layer in stripped.layers if isinstance(layer, kat.CAS))
    assert all(np.mean(k.numpy() == 0) < 0.05 for k in cas.gate.kernels)
    assert sparsity[f"{cas.name}/kernel"] == pytest.approx(0.8, abs=0.01)
