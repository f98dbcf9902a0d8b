"""TFLite conversion and inference for ``tf_keras`` models (pruned, stripped or QAT).

    to_tflite(model)                                   float TFLite (pruned: zeros kept as is)
    to_tflite(qat_model, quantize=True)                int8 where QAT left ranges: every conv,
                                                       dense and pool; the gate branch stays float
    to_tflite(qat_model, quantize=True,
              representative_data=x)                   all int8 (gate ranges calibrated on ``x``),
                                                       int8 input and output
"""

import numpy as np
import tensorflow as tf


def to_tflite(model, quantize=False, representative_data=None, samples=200):
    """The model as a TFLite flatbuffer (``bytes``).

    Args:
        quantize: apply ``tf.lite.Optimize.DEFAULT`` (a QAT model converts to int8 with its
            learned ranges).
        representative_data: input samples (N, ...) to calibrate the tensors QAT left without a
            range (the gate branch); makes the whole graph int8, with int8 input and output.
        samples: how many of ``representative_data`` to use.
    """
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if representative_data is not None:
        if not quantize:
            raise ValueError(
                "to_tflite: `representative_data` needs quantize=True; received quantize=False."
            )
        data = np.asarray(representative_data[:samples], np.float32)
        converter.representative_dataset = lambda: ([sample[None]] for sample in data)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def _interpreter(tflite_model):
    # Without the XNNPACK delegate: the reference kernels, and op details stay visible.
    return tf.lite.Interpreter(
        model_content=tflite_model,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )


def tflite_predict(tflite_model, x, batch_size=256):
    """Run the TFLite interpreter on float inputs ``x``; float outputs (int8 I/O handled)."""
    interpreter = _interpreter(tflite_model)
    input_detail = interpreter.get_input_details()[0]
    outputs = []
    for start in range(0, len(x), batch_size):
        batch = np.asarray(x[start : start + batch_size], np.float32)
        scale, zero_point = input_detail["quantization"]
        if input_detail["dtype"] == np.int8:
            batch = np.clip(np.round(batch / scale + zero_point), -128, 127).astype(np.int8)
        interpreter.resize_tensor_input(input_detail["index"], batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(input_detail["index"], batch)
        interpreter.invoke()
        output_detail = interpreter.get_output_details()[0]
        result = interpreter.get_tensor(output_detail["index"])
        if output_detail["dtype"] == np.int8:
            scale, zero_point = output_detail["quantization"]
            result = (result.astype(np.float32) - zero_point) * scale
        outputs.append(result)
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
