"""TFLite conversion and inference for ``tf_keras`` models (pruned, stripped or QAT).

    to_tflite(model)                    float TFLite (a pruned model keeps its zeros)
    to_tflite(qat_model, quantize=True) int8 from the QAT ranges alone: every conv, dense, pool,
                                        gate and product in int8; float input and output
                                        (one QUANTIZE, one DEQUANTIZE)
"""

import numpy as np
import tensorflow as tf


def to_tflite(model, quantize=False):
    """The model as a TFLite flatbuffer (``bytes``); ``quantize``: ``tf.lite.Optimize.DEFAULT``."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def _interpreter(tflite_model):
    # Without the XNNPACK delegate: the reference kernels, and op details stay visible.
    resolver = tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    return tf.lite.Interpreter(model_content=tflite_model, experimental_op_resolver_type=resolver)


def tflite_predict(tflite_model, x, batch_size=256):
    """Run the TFLite interpreter on float inputs ``x`` (N, ...); returns the outputs (N, ...)."""
    interpreter = _interpreter(tflite_model)
    input_index = interpreter.get_input_details()[0]["index"]
    outputs = []
    for start in range(0, len(x), batch_size):
        batch = np.asarray(x[start : start + batch_size], np.float32)
        interpreter.resize_tensor_input(input_index, batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    return np.concatenate(outputs)


def tflite_op_types(tflite_model):
    """``{(op name, dtype of its first input)}``: which ops run int8 and which float."""
    interpreter = _interpreter(tflite_model)
    interpreter.allocate_tensors()
    dtypes = {t["index"]: t["dtype"] for t in interpreter.get_tensor_details()}
    return {
        (op["op_name"], np.dtype(dtypes[op["inputs"][0]]).name)
        for op in interpreter._get_ops_details()
        if len(op["inputs"])
    }
