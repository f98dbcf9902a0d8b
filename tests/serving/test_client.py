"""Client helpers: REST URLs, bodies and responses against TF Serving's documented JSON, and a gRPC
round trip through a real grpc server answering with an exported signature."""

import json
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import signature
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from keras_adastride.serving import (
    export_model,
    predict_request,
    predict_response_to_numpy,
    rest_body,
    rest_response_to_numpy,
    rest_url,
)


def test_rest_url():
    assert rest_url("clf") == "http://localhost:8501/v1/models/clf:predict"
    assert (rest_url("seg", host="tfs", port=9000, version=3, verb="classify")
            == "http://tfs:9000/v1/models/seg/versions/3:classify")


def test_rest_body_forms_follow_the_documented_layout():
    a = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    b = np.array([0.5, -1.0], dtype=np.float32)
    assert rest_body({"a": a, "b": b}) == {
        "signature_name": "serving_default",
        "instances": [{"a": [1, 2], "b": 0.5}, {"a": [3, 4], "b": -1.0}]}
    assert rest_body({"a": a, "b": b}, form="inputs", signature_name="s") == {
        "signature_name": "s", "inputs": {"a": [[1, 2], [3, 4]], "b": [0.5, -1.0]}}
    assert rest_body(a)["instances"] == [[1, 2], [3, 4]]
    assert rest_body(a, form="inputs")["inputs"] == [[1, 2], [3, 4]]


def test_rest_body_keeps_float32_exactly():
    x = np.random.default_rng(0).standard_normal((3, 7)).astype(np.float32)
    body = json.loads(json.dumps(rest_body({"x": x}, form="inputs")))
    np.testing.assert_array_equal(np.asarray(body["inputs"]["x"], dtype=np.float32), x)


@pytest.mark.parametrize(
    "inputs, form, message",
    [
        ({"a": np.zeros((2, 3)), "b": np.zeros((3,))}, "instances", "first dimension"),
        ({"a": np.float32(1.0)}, "inputs", "first dimension"),
        ({}, "inputs", "at least one"),
        (np.zeros((2, 2)), "rows", "form"),
    ],
)
def test_rest_body_rejects_bad_inputs(inputs, form, message):
    with pytest.raises(ValueError, match=message):
        rest_body(inputs, form=form)


def test_rest_response_to_numpy_reads_both_documented_forms():
    rows = {"predictions": [{"class_ids": 3, "probabilities": [0.1, 0.9]},
                            {"class_ids": 1, "probabilities": [0.8, 0.2]}]}
    columns = {"outputs": {"class_ids": [3, 1], "probabilities": [[0.1, 0.9], [0.8, 0.2]]}}
    for response in (rows, columns):
        arrays = rest_response_to_numpy(response, dtypes={"probabilities": np.float32})
        np.testing.assert_array_equal(arrays["class_ids"], [3, 1])
        assert arrays["probabilities"].dtype == np.float32
        np.testing.assert_allclose(arrays["probabilities"], [[0.1, 0.9], [0.8, 0.2]])
    np.testing.assert_array_equal(rest_response_to_numpy({"predictions": [[1, 2]]}), [[1, 2]])
    np.testing.assert_array_equal(rest_response_to_numpy({"outputs": [[1, 2]]}), [[1, 2]])
    with pytest.raises(ValueError, match="Servable not found"):
        rest_response_to_numpy({"error": "Servable not found for request"})
    with pytest.raises(ValueError, match="predictions"):
        rest_response_to_numpy({"result": []})


def test_predict_request_fields(images):
    request = predict_request({"image": images}, "clf", signature_name="s", version=7)
    assert request.model_spec.name == "clf" and request.model_spec.signature_name == "s"
    assert request.model_spec.version.value == 7
    assert request.inputs["image"].dtype == tf.uint8.as_datatype_enum
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["image"]), images)
    assert not predict_request({"image": images}, "clf").model_spec.HasField("version")
    with pytest.raises(ValueError, match="named"):
        predict_request(images, "clf")
    with pytest.raises(ValueError, match="version"):
        predict_request({"image": images}, "clf", version=-1)


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """A stand-in for tensorflow_model_server's Predict: tensors in, signature, tensors out."""

    def __init__(self, name, function):
        self.name, self.function = name, function

    def Predict(self, request, context):
        if request.model_spec.name != self.name:
            context.abort(grpc.StatusCode.NOT_FOUND,
                          f"Servable not found: {request.model_spec.name}")
        inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
        response = predict_pb2.PredictResponse()
        for key, value in self.function(**inputs).items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
        return response


def test_grpc_round_trip_through_a_server(classifier, images, tmp_path):
    function = signature(export_model(classifier, tmp_path, "clf", input_dtype="uint8",
                                      scale=1 / 255, classifier=True, from_logits=True))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        _PredictionService("clf", function), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            response = stub.Predict(predict_request({"image": images}, "clf"), timeout=60)
            with pytest.raises(grpc.RpcError, match="Servable not found"):
                stub.Predict(predict_request({"image": images}, "nope"), timeout=60)
    finally:
        server.stop(None)
    outputs = predict_response_to_numpy(response)
    expected = function(image=tf.constant(images))
    assert outputs["class_ids"].dtype == np.int64
    np.testing.assert_array_equal(outputs["class_ids"], expected["class_ids"].numpy())
    np.testing.assert_array_equal(outputs["probabilities"], expected["probabilities"].numpy())
