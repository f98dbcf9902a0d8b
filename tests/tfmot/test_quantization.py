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


_FLOAT_PRODUCT = {("MUL", "float32")}
# Median and stochastic pooling: the windows (PAD, STRIDED_SLICE, PACK) run int8; the sort, the
# one-hot pick and the weighting have no QAT range inside the layer and run float, as the product.
_WINDOW_FLOAT_OPS = {("SUM", "float32"), ("SELECT_V2", "bool"), ("ZEROS_LIKE", "float32")}


@pytest.mark.parametrize("pool_modes, float_ops", [
    (("avg_max_concat",), set()),
    # The sum of the two pools has no QAT range: TFLite keeps it, and the product, in float
    # (avg_max_mean: the same ops, one more MUL).
    (("avg_max_add",), {("ADD", "float32")} | _FLOAT_PRODUCT),
    # Side by side (one conversion): the median's sort is a TOPK_V2 of the negated windows.
    (("median", "stochastic"), _WINDOW_FLOAT_OPS | _FLOAT_PRODUCT | {
        ("TOPK_V2", "float32"), ("NEG", "float32"), ("ADD", "float32"), ("FILL", "int32"),
        ("RELU", "float32"), ("DIV", "float32"), ("GREATER", "float32"), ("SHAPE", "float32"),
        ("BROADCAST_TO", "float32")}),
])
def test_other_gate_activations_and_pool_modes_convert(pool_modes, float_ops, rng):
    # Grouped CAS (unfused), a bounded gate (12*sigmoid: its pre-activation gets a range too),
    # per-channel gates, the pool modes, a StrideGate on its own; float TFLite equals the model.
    inputs = tf_keras.Input((16, 16, 4))
    x = kat.CAS(8, 3, groups=2, gate_activation="scaled_sigmoid", gate_channels="per_channel",
                gate_init="random")(inputs)
    pooled = [kat.PAS(3, 2, padding="same", pool_mode=mode, gate_channels="per_channel",
                      gate_init="random")(x) for mode in pool_modes]
    x = pooled[0] if len(pooled) == 1 else tf_keras.layers.Concatenate()(pooled)
    x = kat.StrideGate(1, initialization="random")(x)
    outputs = tf_keras.layers.Dense(3)(tf_keras.layers.GlobalAveragePooling2D()(x))
    float_model = tf_keras.Model(inputs, outputs)
    data = rng.normal(size=(32, 16, 16, 4)).astype("float32")
    np.testing.assert_allclose(tflite_predict(to_tflite(float_model), data),
                               float_model.predict(data, verbose=0), atol=1e-5)
    with kat.quantize_scope():
        model = quantize_api.quantize_apply(kat.quantize_annotate_model(float_model))
    model.compile("adam", "mse")
    model.fit(data, rng.normal(size=(32, 3)), epochs=2, verbose=0)
    ops = tflite_op_types(to_tflite(model, quantize=True))
    assert {op for op in ops if op[1] != "int8"} == {("QUANTIZE", "float32")} | float_ops
    assert ("LOGISTIC", "int8") in ops


@pytest.mark.parametrize("input_shape", [(15, 15, 3), (16, 16, 3), (None, None, 3)])
def test_padded_space_to_depth_conv_converts_to_int8(input_shape, rng):
    # What every downsampling="spd" builder site uses. Pad widths computed at run time used to
    # leave the quantized conv after the pad as a TF op (ERROR_NEEDS_FLEX_OPS), even at 16x16.
    inputs = tf_keras.Input(input_shape)
    x = kat.SpaceToDepthConv(8, 3, padding="same", pad_to_multiple=True, activation="relu")(inputs)
    outputs = tf_keras.layers.Dense(3)(tf_keras.layers.GlobalAveragePooling2D()(x))
    with kat.quantize_scope():
        model = quantize_api.quantize_apply(
            kat.quantize_annotate_model(tf_keras.Model(inputs, outputs))
        )
    model.compile("adam", "mse")
    size = input_shape[0] or 15
    data = rng.uniform(size=(64, size, size, 3)).astype("float32")
    data *= rng.uniform(0, 4, size=(64, 1, 1, 1)).astype("float32")  # images of varied contrast
    targets = data.mean(axis=(1, 2)) @ rng.normal(size=(3, 3))  # outputs that vary per image
    model.fit(data, targets, epochs=4, verbose=0)
    tflite_model = to_tflite(model, quantize=True)
    ops = tflite_op_types(tflite_model)
    assert ("CONV_2D", "int8") in ops
    # Float only at the input; an unknown size adds int32 shape arithmetic for the crop.
    assert {op for op in ops if op[1] not in ("int8", "int32")} == {("QUANTIZE", "float32")}
    if input_shape[0] is not None:
        assert {dtype for _, dtype in ops} == {"int8", "float32"}
    expected = model.predict(data, verbose=0)  # fake-quantized: on the output's int8 grid
    assert len(np.unique(expected)) > 5  # trained ranges: a real comparison, not of zeros
    step = np.diff(np.unique(expected)).min()
    # int8 kernels round differently from fake quantization: at most one step apart.
    np.testing.assert_allclose(tflite_predict(tflite_model, data), expected, atol=1.01 * step)


def test_batch_normalization_after_our_layers_quantizes(rng):
    # CAS -> BatchNormalization -> ReLU and SpaceToDepthConv -> BatchNormalization (the MobileNet,
    # ResNet, dilated-VGG and YOLOX sites): TFMOT alone refuses such a BatchNormalization
    # ("Layer ... is not supported"); ours gets an output quantizer and converts.
    inputs = tf_keras.Input((16, 16, 3))
    x = kat.CAS(8, 3, strides=2, padding="same", gate_init="random")(inputs)
    x = tf_keras.layers.ReLU()(tf_keras.layers.BatchNormalization(name="cas_bn")(x))
    x = kat.SpaceToDepthConv(8, 3, padding="same", pad_to_multiple=True, name="spd")(x)
    x = tf_keras.layers.BatchNormalization(name="spd_bn")(x)
    outputs = tf_keras.layers.Dense(3)(tf_keras.layers.GlobalAveragePooling2D()(x))
    with kat.quantize_scope():
        annotated = kat.quantize_annotate_model(tf_keras.Model(inputs, outputs))
        model = quantize_api.quantize_apply(annotated)
    configs = {w.layer.name: w.quantize_config for w in annotated.layers[1:]}
    assert type(configs["cas_bn"]).__name__ == "Default8BitOutputQuantizeConfig"
    assert type(configs["spd_bn"]).__name__ == "Default8BitOutputQuantizeConfig"
    assert configs["spd"].get_config() == {"fold_batch_norm": True}
    model.compile(tf_keras.optimizers.Adam(0.01), "mse")
    data = rng.uniform(size=(64, 16, 16, 3)).astype("float32")
    data *= rng.uniform(0, 4, size=(64, 1, 1, 1)).astype("float32")
    model.fit(data, data.mean(axis=(1, 2)) @ rng.normal(size=(3, 3)), epochs=10, verbose=0)
    tflite_model = to_tflite(model, quantize=True)
    ops = tflite_op_types(tflite_model)
    # Folded into the int8 SPD conv (no range between them); after CAS's gated product it stays
    # a per-channel MUL + ADD in float (constants without QAT ranges), between int8 neighbours.
    assert {op for op in ops if op[1] != "int8"} == {
        ("QUANTIZE", "float32"), ("MUL", "float32"), ("ADD", "float32")}
    expected = model.predict(data, verbose=0)
    assert len(np.unique(expected)) > 5
    step = np.diff(np.unique(expected)).min()
    steps = np.abs(tflite_predict(tflite_model, data) - expected) / step
    # Folding rescales the fake-quantized kernel before TFLite rounds it again: a few outputs
    # land two int8 steps away, most on the same step or the next.
    within_one = np.mean(steps <= 1.01)
    assert steps.max() <= 2.01 and within_one >= 0.9, (steps.max(), within_one)
