"""fold_batch_norms: BatchNormalization folded into the conv before it, before QAT."""

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras

from keras_adastride import tfmot as kat
from keras_adastride.tfmot.tflite import to_tflite


def _model(cas=True):
    """Conv2D + BN + ReLU6, DepthwiseConv2D + BN + ReLU6, CAS + BN (not foldable), logits;
    random BN statistics (as after training)."""
    tf_keras.utils.set_random_seed(0)
    x = inputs = tf_keras.Input((12, 12, 1))
    x = tf_keras.layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv")(x)
    x = tf_keras.layers.BatchNormalization(name="conv_bn")(x)
    x = tf_keras.layers.ReLU(6.0)(x)
    x = tf_keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)
    x = tf_keras.layers.BatchNormalization(name="dw_bn")(x)
    x = tf_keras.layers.ReLU(6.0)(x)
    if cas:
        x = kat.CAS(8, 3, strides=2, padding="same", name="cas")(x)
        x = tf_keras.layers.BatchNormalization(name="cas_bn")(x, mask=None)  # as to_tf_keras
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(4)(x))
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, tf_keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.2, 3, gamma.shape), rng.normal(0, 1, beta.shape),
                               rng.normal(0, 1, mean.shape), rng.uniform(0.05, 4, var.shape)])
    return model


def test_fold_batch_norms_is_the_same_net():
    model = _model()
    folded = kat.fold_batch_norms(model)
    names = [layer.name for layer in folded.layers]
    assert "conv_bn" not in names and "dw_bn" not in names and "cas_bn" in names
    assert folded.get_layer("conv").use_bias and folded.get_layer("dw").use_bias
    x = np.random.default_rng(1).uniform(0, 1, (16, 12, 12, 1)).astype("float32")
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(folded.predict(x, verbose=0), expected, atol=1e-5)
    assert np.abs(expected).max() > 0.1  # the BN statistics matter


def test_folded_qat_runs_the_int8_files_kernels():
    folded = kat.fold_batch_norms(_model(cas=False))
    with kat.quantize_scope():
        qat = tfmot.quantization.keras.quantize_apply(kat.quantize_annotate_model(folded),
                                                      scheme=kat.FoldedQuantizeScheme())
    # Every conv kernel fake-quantized (TFMOT's default scheme drops it before a ReLU).
    ranges = {w.name.split(":")[0] for w in qat.weights}
    assert {"quant_conv/kernel_min", "quant_dw/depthwise_kernel_min"} <= ranges
    x = np.random.default_rng(1).uniform(0, 1, (16, 12, 12, 1)).astype("float32")
    qat(x, training=True)  # kernel ranges set
    interpreter_kernel = _tflite_depthwise_kernel(to_tflite(qat, quantize=True))
    (kernel,) = [w.numpy() for w in qat.weights if w.name == "dw/depthwise_kernel:0"]
    step = np.abs(kernel).max(axis=(0, 1, 2)) / 127  # per depth multiplier, as TFMOT's ranges
    simulated = (np.round(kernel / step) * step).reshape(1, 3, 3, -1)
    np.testing.assert_allclose(interpreter_kernel, simulated, atol=1e-6)


def _tflite_depthwise_kernel(flatbuffer):
    """The int8 depthwise kernel of ``flatbuffer``, dequantized (1, 3, 3, 16)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    (detail,) = [d for d in interpreter.get_tensor_details()
                 if list(d["shape"]) == [1, 3, 3, 16] and d["dtype"] == np.int8]
    scales = detail["quantization_parameters"]["scales"]
    return interpreter.get_tensor(detail["index"]).astype("float32") * scales
