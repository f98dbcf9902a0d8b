"""Quantization-aware training (TFMOT default 8-bit scheme) and int8 TFLite."""

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras
from tfmot_models import clone_with_weights, compile_model

from keras_adastride import tfmot as kat
from keras_adastride.tfmot.tflite import tflite_op_types, tflite_predict, to_tflite

quantize_api = tfmot.quantization.keras


@pytest.fixture(scope="module")
def qat_model(trained_model, fashion):
    x, y, _, _ = fashion
    annotated = kat.quantize_annotate_model(clone_with_weights(trained_model))
    with kat.quantize_scope():
        model = compile_model(quantize_api.quantize_apply(annotated))
    history = model.fit(x[:1280], y[:1280], batch_size=64, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    return model


def test_every_layer_of_ours_gets_its_config(trained_model):
    annotated = kat.quantize_annotate_model(trained_model)
    configs = {
        type(wrapper.layer).__name__: type(wrapper.quantize_config).__name__
        for wrapper in annotated.layers
        if wrapper.quantize_config is not None
    }
    assert configs == {
        "CAS": "CASQuantizeConfig",
        "PAS": "PASQuantizeConfig",
        "SpaceToDepthConv": "SpaceToDepthConvQuantizeConfig",
        "SpaceToDepth": "SpaceToDepthQuantizeConfig",
    }
    with pytest.raises(ValueError, match="CASQuantizeConfig quantizes CAS layers only"):
        kat.CASQuantizeConfig().get_weights_and_quantizers(kat.PAS())


def test_fake_quantization_is_applied(qat_model, trained_model, fashion):
    _, _, x_test, _ = fashion
    wrappers = {type(w.layer).__name__: w for w in qat_model.layers if hasattr(w, "layer")}
    # Per-channel ranges for the CAS conv kernel and its gate kernels; ranges for the conv
    # activation, the two hidden gate ReLUs, the gate map (gate_3) and the output; none for the
    # last pre-activation (gate_2), which TFLite fuses with its ReLU.
    names = {v.name.split("/")[-1] for v in wrappers["CAS"].non_trainable_weights}
    assert {
        "kernel_min:0", "kernel_0_min:0", "kernel_2_max:0", "post_activation_min:0",
        "gate_0_min:0", "gate_1_min:0", "gate_3_max:0", "output_min:0",
    } <= names
    assert "gate_2_min:0" not in names
    # The QAT model computes something close to, but not exactly, the float model.
    q = qat_model.predict(x_test[:256], verbose=0)
    f = trained_model.predict(x_test[:256], verbose=0)
    assert not np.array_equal(q, f)
    assert np.mean(q.argmax(1) == f.argmax(1)) > 0.8


@pytest.mark.parametrize("suffix", [".h5", ""])
def test_qat_model_saves_and_loads(qat_model, fashion, tmp_path, suffix):
    # TFMOT's own QAT models do not load from the .keras format (its QuantizeLayer); h5 and
    # SavedModel do.
    _, _, x_test, _ = fashion
    path = str(tmp_path / f"qat{suffix}")
    qat_model.save(path)
    with kat.quantize_scope():
        loaded = tf_keras.models.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(x_test[:64], verbose=0), qat_model.predict(x_test[:64], verbose=0),
        atol=1e-5,
    )


def test_int8_tflite_agrees_with_qat_model(qat_model, fashion):
    _, _, x_test, _ = fashion
    tflite_model = to_tflite(qat_model, quantize=True)
    ops = tflite_op_types(tflite_model)
    # Every op int8 from the QAT ranges alone (the gate's included): float only at the input.
    assert {op for op in ops if op[1] != "int8"} == {("QUANTIZE", "float32")}
    assert {"CONV_2D", "MUL", "FULLY_CONNECTED", "MAX_POOL_2D"} <= {name for name, _ in ops}
    predictions = tflite_predict(tflite_model, x_test)
    expected = qat_model.predict(x_test, verbose=0)
    agreement = np.mean(predictions.argmax(1) == expected.argmax(1))
    assert agreement >= 0.99, agreement


@pytest.mark.parametrize("pool_mode, float_ops", [
    ("avg_max_concat", set()),
    # The sum of the two pools has no QAT range: TFLite keeps it, and the product, in float.
    ("avg_max_add", {("ADD", "float32"), ("MUL", "float32")}),
])
def test_other_gate_activations_and_pool_modes_convert(pool_mode, float_ops, rng):
    # Grouped CAS (unfused), a bounded gate (12*sigmoid: its pre-activation gets a range too),
    # per-channel gates, both combined pool modes, a StrideGate on its own.
    inputs = tf_keras.Input((16, 16, 4))
    x = kat.CAS(8, 3, groups=2, gate_activation="scaled_sigmoid", gate_channels="per_channel",
                gate_init="random")(inputs)
    x = kat.PAS(pool_mode=pool_mode, gate_channels="per_channel", gate_init="random")(x)
    x = kat.StrideGate(1, initialization="random")(x)
    outputs = tf_keras.layers.Dense(3)(tf_keras.layers.GlobalAveragePooling2D()(x))
    with kat.quantize_scope():
        model = quantize_api.quantize_apply(
            kat.quantize_annotate_model(tf_keras.Model(inputs, outputs))
        )
    model.compile("adam", "mse")
    data = rng.normal(size=(32, 16, 16, 4)).astype("float32")
    model.fit(data, rng.normal(size=(32, 3)), epochs=2, verbose=0)
    ops = tflite_op_types(to_tflite(model, quantize=True))
    assert {op for op in ops if op[1] != "int8"} == {("QUANTIZE", "float32")} | float_ops
    assert ("LOGISTIC", "int8") in ops
