"""Client-side helpers for TF Serving: REST URLs and bodies, gRPC ``PredictRequest``s.

REST (``POST /v1/models/<name>[/versions/<v>]:predict``) takes JSON in two forms:

- row form ``{"signature_name": s, "instances": [...]}``: one entry per example, an object
  ``{input_name: value}`` per example (or the bare value when ``inputs`` is a single array);
- column form ``{"signature_name": s, "inputs": {input_name: batch}}`` (or the bare batch).

gRPC uses ``tensorflow_serving.apis.predict_pb2.PredictRequest`` with one ``TensorProto`` per input.
"""

import numbers

import numpy as np

SIGNATURE_KEY = "serving_default"
REST_FORMS = ("instances", "inputs")


def _serving_apis():
    try:
        from tensorflow_serving.apis import predict_pb2
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "gRPC requests need `tensorflow-serving-api`: pip install keras_adastride[serving]"
        ) from err
    return predict_pb2


def _as_arrays(inputs):
    """``inputs`` as ``{name: ndarray}`` (None for a bare array) and the batch size."""
    named = isinstance(inputs, dict)
    arrays = {k: np.asarray(v) for k, v in inputs.items()} if named else {None: np.asarray(inputs)}
    if not arrays:
        raise ValueError("inputs must hold at least one tensor; received an empty dict.")
    sizes = {name: a.shape[0] if a.ndim else None for name, a in arrays.items()}
    if None in sizes.values() or len(set(sizes.values())) != 1:
        raise ValueError(
            "every input must be a batch with the same first dimension; received shapes "
            f"{ {name: a.shape for name, a in arrays.items()} }."
        )
    return arrays, next(iter(sizes.values()))


def rest_url(model_name, host="localhost", port=8501, version=None, verb="predict"):
    """``http://host:port/v1/models/<model_name>[/versions/<version>]:<verb>``."""
    version_part = "" if version is None else f"/versions/{int(version)}"
    return f"http://{host}:{port}/v1/models/{model_name}{version_part}:{verb}"


def rest_body(inputs, form="instances", signature_name=SIGNATURE_KEY):
    """The JSON-ready body of a REST predict request.

    Args:
        inputs: ``{input_name: batch}`` or a single batch (array-like, first axis = examples).
        form: "instances" (row form) or "inputs" (column form).
        signature_name: the SignatureDef to call.

    Returns:
        a dict of plain Python lists and numbers (``json.dumps`` it). Float32 values survive the
        round trip exactly: every float32 is a float64 and JSON prints floats to full precision.
    """
    if form not in REST_FORMS:
        raise ValueError(f"form must be one of {list(REST_FORMS)}; received form={form!r}.")
    arrays, batch = _as_arrays(inputs)
    body = {"signature_name": signature_name}
    if form == "inputs":
        columns = {name: a.tolist() for name, a in arrays.items()}
        body["inputs"] = columns if isinstance(inputs, dict) else columns[None]
    elif isinstance(inputs, dict):
        body["instances"] = [{name: a[i].tolist() for name, a in arrays.items()}
                             for i in range(batch)]
    else:
        body["instances"] = arrays[None].tolist()
    return body


def rest_response_to_numpy(response, dtypes=None):
    """Turn a REST predict response (parsed JSON) into arrays.

    ``{"predictions": [...]}`` (row form) and ``{"outputs": ...}`` (column form) both give
    ``{output_name: ndarray}``, or one ndarray when the server sent unnamed values (one output).
    ``dtypes``: optional ``{output_name: dtype}`` (JSON has no float32 / int64 distinction).
    """
    if "error" in response:
        raise ValueError(f"the server answered with an error: {response['error']!r}")
    if "outputs" in response:
        values = response["outputs"]
        arrays = ({k: np.asarray(v) for k, v in values.items()} if isinstance(values, dict)
                  else np.asarray(values))
    elif "predictions" in response:
        rows = response["predictions"]
        if rows and isinstance(rows[0], dict):
            arrays = {k: np.asarray([row[k] for row in rows]) for k in rows[0]}
        else:
            arrays = np.asarray(rows)
    else:
        raise ValueError(
            "a predict response holds 'predictions' or 'outputs'; received keys "
            f"{sorted(response)}."
        )
    if dtypes and isinstance(arrays, dict):
        arrays = {k: a.astype(dtypes.get(k, a.dtype)) for k, a in arrays.items()}
    return arrays


def predict_request(inputs, model_name, signature_name=SIGNATURE_KEY, version=None):
    """A gRPC ``PredictRequest``: ``inputs`` is ``{input_name: batch}`` (dtypes kept as given)."""
    import tensorflow as tf

    predict_pb2 = _serving_apis()
    if not isinstance(inputs, dict):
        raise ValueError(
            "gRPC inputs are named: pass {input_name: batch}; received "
            f"{type(inputs).__name__}."
        )
    arrays, _ = _as_arrays(inputs)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        if isinstance(version, bool) or not isinstance(version, numbers.Integral) or version < 0:
            raise ValueError(f"version must be an integer >= 0 or None; received {version!r}.")
        request.model_spec.version.value = int(version)
    for name, array in arrays.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    return request


def predict_response_to_numpy(response):
    """``{output_name: ndarray}`` from a gRPC ``PredictResponse``."""
    import tensorflow as tf

    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
