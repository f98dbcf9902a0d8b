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


def _output_order(interpreter):
    """Output tensor indices: by signature key (sorted, as ``keras.tree.flatten`` sorts a dict of
    outputs) when the file has a signature, else by tensor name in natural order (``Identity``,
    ``Identity_1``, ...: the model's output order; some int8 files of TFLite have no signature)."""
    signatures = interpreter._get_full_signature_list()
    if signatures:
        outputs = next(iter(signatures.values()))["outputs"]
        return [outputs[key] for key in sorted(outputs)]
    details = interpreter.get_output_details()
    return [d["index"] for d in sorted(details, key=lambda d: (len(d["name"]), d["name"]))]


def tflite_outputs(tflite_model, x, batch_size=256):
    """Run the TFLite interpreter on float inputs ``x`` (N, ...): every output (N, ...), in
    :func:`_output_order`, as a list."""
    interpreter = _interpreter(tflite_model)
    input_index = interpreter.get_input_details()[0]["index"]
    order = _output_order(interpreter)
    batches = []
    for start in range(0, len(x), batch_size):
        batch = np.asarray(x[start : start + batch_size], np.float32)
        interpreter.resize_tensor_input(input_index, batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        batches.append([interpreter.get_tensor(index) for index in order])
    return [np.concatenate(parts) for parts in zip(*batches)]


def tflite_predict(tflite_model, x, batch_size=256):
    """Run the TFLite interpreter on float inputs ``x`` (N, ...); returns the (first) output."""
    return tflite_outputs(tflite_model, x, batch_size)[0]


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
