"""The models in saved_models/: they load without keras_adastride, pass saved_model_cli, carry no
XLA, answer REST and gRPC requests with the outputs recorded at export, and their .keras files
(the compatibility record) keep loading and reproducing them."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import REPO, SAVED_MODELS, assert_outputs_match, saved_model_entries
from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

from keras_adastride.serving import predict_request, rest_body, xla_findings


def _id(entry):
    """An entry's test id and file stem: ``<name>_v<version>``."""
    return f"{entry.name}_v{entry.version}"


# a missing folder fails test_the_folder_holds_both_models, not the collection of every test
ENTRIES = saved_model_entries() if (SAVED_MODELS / "models.config").is_file() else []
IDS = [_id(e) for e in ENTRIES]
per_entry = pytest.mark.parametrize("entry", ENTRIES, ids=IDS)

_signatures = {}


def served(entry):
    """The entry's ``serving_default`` function, loaded once per test session."""
    if entry.export_dir not in _signatures:
        _signatures[entry.export_dir] = tf.saved_model.load(
            str(entry.export_dir)).signatures["serving_default"]
    return _signatures[entry.export_dir]


def decode_rest_request(body, specs):
    """TF Serving's reading of a REST predict body into tensors (its documented semantics):
    row form "instances" (per-example objects, or bare values for one input), column form
    "inputs" (an object of batches, or a bare batch for one input); dtypes from the signature."""
    assert body["signature_name"] == "serving_default"
    if "instances" in body:
        rows = body["instances"]
        columns = ({k: [row[k] for row in rows] for k in rows[0]} if isinstance(rows[0], dict)
                   else {next(iter(specs)): rows})
    else:
        columns = body["inputs"]
        columns = columns if isinstance(columns, dict) else {next(iter(specs)): columns}
    assert set(columns) == set(specs)
    return {k: tf.constant(v, dtype=specs[k].dtype) for k, v in columns.items()}


def test_the_folder_holds_every_model():
    assert (SAVED_MODELS / "models.config").is_file(), f"{SAVED_MODELS} holds no models.config"
    assert {e.name for e in ENTRIES} >= {"fashion_mnist_cas", "unet_cas", "yolox_cas"}
    config = (SAVED_MODELS / "models.config").read_text()
    for name in {e.name for e in ENTRIES}:  # the README mounts this folder at /models
        assert f'name: "{name}"\n    base_path: "/models/{name}"' in config
    for entry in ENTRIES:
        assert entry.inputs and entry.outputs and entry.keras_outputs
        assert entry.keras_file.is_file()


def test_files_are_small():
    """Every file < 2 MB and < 5 MB per served model (the detector's graph alone is 1.9 MB)."""
    sizes = {p: p.stat().st_size for p in SAVED_MODELS.rglob("*") if p.is_file()}
    assert max(sizes.values()) < 2_000_000, max(sizes, key=sizes.get)
    assert sum(sizes.values()) < 5_000_000 * len({e.name for e in ENTRIES})


def test_loads_and_reproduces_without_keras_adastride(tmp_path):
    """TF Serving runs graphs, not Python: load in a process where keras_adastride is absent."""
    jobs = [(str(e.export_dir), str(tmp_path / f"{i}.npz")) for i, e in enumerate(ENTRIES)]
    for (_, path), entry in zip(jobs, ENTRIES):
        np.savez(path, **entry.inputs)
    script = textwrap.dedent("""
        import json, sys
        sys.modules["keras_adastride"] = None  # any import of it now raises ImportError
        import numpy as np
        import tensorflow as tf
        try:
            import keras_adastride  # noqa: F401
        except ImportError:
            pass
        else:
            raise SystemExit("keras_adastride is importable")
        for export_dir, path in json.loads(sys.argv[1]):
            function = tf.saved_model.load(export_dir).signatures["serving_default"]
            with np.load(path) as inputs:
                outputs = function(**{k: tf.constant(inputs[k]) for k in inputs.files})
            np.savez(path + ".out.npz", **{k: v.numpy() for k, v in outputs.items()})
        print("loaded", [m for m in sys.modules if m.startswith("keras_adastride")])
    """)
    result = subprocess.run([sys.executable, "-c", script, json.dumps(jobs)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "loaded ['keras_adastride']" in result.stdout  # only the None placeholder
    for (_, path), entry in zip(jobs, ENTRIES):
        with np.load(path + ".out.npz") as outputs:
            assert_outputs_match(dict(outputs), entry.outputs)


#: runs each job's arguments through saved_model_cli's console-script entry point in one process
#: (one TensorFlow import, ~5 s, instead of one per command); each job's stdout to a file
_CLI_RUNNER = textwrap.dedent("""
    import contextlib, json, sys
    from tensorflow.python.tools.saved_model_cli import main
    for args, stdout in json.loads(sys.argv[1]):
        sys.argv = ["saved_model_cli", *args]
        with open(stdout, "w") as out, contextlib.redirect_stdout(out):
            try:
                main()
            except SystemExit as exit_:
                if exit_.code:
                    raise
""")


@pytest.fixture(scope="module")
def saved_model_cli(tmp_path_factory):
    """``saved_model_cli`` as its console script runs it (``saved_model_cli:main``), for every
    entry: ``show`` of ``serving_default``, ``run`` on the recorded inputs (outputs in
    ``<out>/<entry>``), ``scan``, and ``scan`` of a SavedModel that reads files (the scan's
    positive control). Returns ``(stdout of (command, id), run output folder of id)``."""
    work = tmp_path_factory.mktemp("saved_model_cli")
    read_file = tf.Module()  # the positive control: a SavedModel that reads files
    read_file.read = tf.function(tf.io.read_file,
                                 input_signature=[tf.TensorSpec([], tf.string)])
    tf.saved_model.save(read_file, str(work / "denylisted"),
                        signatures=read_file.read.get_concrete_function())
    jobs = {("scan", "denylisted"): ["scan", "--dir", str(work / "denylisted")]}
    for entry in ENTRIES:
        name = _id(entry)
        ((key, value),) = entry.inputs.items()
        np.save(work / f"{name}.npy", value)
        signature = ["--dir", str(entry.export_dir), "--tag_set", "serve",
                     "--signature_def", "serving_default"]
        jobs[("show", name)] = ["show", *signature]
        jobs[("run", name)] = ["run", *signature, "--inputs", f"{key}={work / name}.npy",
                               "--outdir", str(work / "out" / name)]
        jobs[("scan", name)] = ["scan", "--dir", str(entry.export_dir)]
    stdout = {job: work / "_".join(job) for job in jobs}
    result = subprocess.run(
        [sys.executable, "-c", _CLI_RUNNER,
         json.dumps([(args, str(stdout[job])) for job, args in jobs.items()])],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    return {job: path.read_text() for job, path in stdout.items()}, work / "out"


@per_entry
def test_saved_model_cli_show(entry, saved_model_cli):
    text = " ".join(saved_model_cli[0][("show", _id(entry))].split())
    dtypes = {np.dtype("uint8"): "DT_UINT8", np.dtype("float32"): "DT_FLOAT",
              np.dtype("int32"): "DT_INT32", np.dtype("int64"): "DT_INT64"}
    tensors = [("inputs", k, v) for k, v in entry.inputs.items()]
    tensors += [("outputs", k, v) for k, v in entry.outputs.items()]
    for kind, name, value in tensors:
        shape = ", ".join(str(d) for d in (-1, *value.shape[1:]))
        assert (f"{kind}['{name}'] tensor_info: dtype: {dtypes[value.dtype]} shape: ({shape})"
                in text), (kind, name)
    assert "Method name is: tensorflow/serving/predict" in text


@per_entry
def test_saved_model_cli_run(entry, saved_model_cli):
    out = saved_model_cli[1] / _id(entry)
    outputs = {p[:-4]: np.load(out / p) for p in os.listdir(out)}
    assert_outputs_match(outputs, entry.outputs)


def _scan_reports_denylisted(saved_model_cli, name):
    text = saved_model_cli[0][("scan", name)]
    assert "denylisted ops" in text
    return "contains the following denylisted ops" in text


def test_saved_model_cli_scan_sees_denylisted_ops(saved_model_cli):
    assert _scan_reports_denylisted(saved_model_cli, "denylisted")


@per_entry
def test_saved_model_cli_scan_and_no_xla(entry, saved_model_cli):
    assert not _scan_reports_denylisted(saved_model_cli, _id(entry))
    assert xla_findings(entry.export_dir) == []


@per_entry
@pytest.mark.parametrize("form", ["instances", "inputs"])
def test_rest_body_reproduces_recorded_outputs(entry, form):
    function = served(entry)
    body = json.loads(json.dumps(rest_body(entry.inputs, form=form)))
    tensors = decode_rest_request(body, function.structured_input_signature[1])
    assert_outputs_match({k: v.numpy() for k, v in function(**tensors).items()}, entry.outputs)


@per_entry
def test_committed_rest_request_file(entry):
    """The README's curl sends this file: it is the row-form body of the recorded inputs."""
    path = SAVED_MODELS / "records" / f"{entry.name}_v{entry.version}.request.json"
    body = json.loads(path.read_text())
    tensors = decode_rest_request(body, served(entry).structured_input_signature[1])
    for name, value in entry.inputs.items():
        np.testing.assert_array_equal(tensors[name].numpy(), value)


@per_entry
def test_grpc_request_reproduces_recorded_outputs(entry):
    request = predict_request(entry.inputs, entry.name, version=entry.version)
    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # the wire
    assert request.model_spec.name == entry.name
    assert request.model_spec.version.value == entry.version
    assert request.model_spec.signature_name == "serving_default"
    tensors = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
    outputs = served(entry)(**tensors)
    assert_outputs_match({k: v.numpy() for k, v in outputs.items()}, entry.outputs)


@per_entry
def test_warmup_request_holds_the_recorded_inputs(entry):
    path = entry.export_dir / "assets.extra" / "tf_serving_warmup_requests"
    (record,) = tf.data.TFRecordDataset(str(path)).as_numpy_iterator()
    request = prediction_log_pb2.PredictionLog.FromString(record).predict_log.request
    assert request.model_spec.name == entry.name
    for name, value in entry.inputs.items():
        np.testing.assert_array_equal(tf.make_ndarray(request.inputs[name]), value)


@per_entry
def test_keras_file_loads_and_reproduces(entry):
    import keras_adastride  # noqa: F401  (registers the layers and initializers)

    model = keras.models.load_model(entry.keras_file)
    ((name, value),) = entry.inputs.items()
    assert model.inputs[0].name == name
    outputs = model(value.astype("float32") / 255.0)
    if not isinstance(outputs, dict):  # a classifier / segmenter: the probabilities
        outputs = {model.output_names[0]: outputs}
        served_as = {model.output_names[0]: "probabilities"}
    else:  # the detector: the same boxes, classes, scores and counts as its signature
        served_as = {key: key for key in outputs}
    outputs = {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}
    assert set(outputs) == set(entry.keras_outputs)
    for key, recorded in entry.keras_outputs.items():
        np.testing.assert_allclose(outputs[key], recorded, atol=1e-4, rtol=1e-4, err_msg=key)
        np.testing.assert_allclose(outputs[key], entry.outputs[served_as[key]], atol=1e-4,
                                   rtol=1e-4, err_msg=key)


def test_keras_files_load_with_the_top_level_import_alone():
    """A user's `import keras_adastride` (no submodule) is enough to load every saved model
    (one fresh process loads them all: the builders must stay unimported throughout)."""
    code = (
        "import sys, keras, keras_adastride\n"
        "for path in sys.argv[1:]:\n"
        "    keras.models.load_model(path)\n"
        "    assert 'keras_adastride.models' not in sys.modules, f'{path} loaded the builders'\n"
    )
    result = subprocess.run([sys.executable, "-c", code, *(str(e.keras_file) for e in ENTRIES)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_segmenter_serves_a_class_map_of_the_task_canvases():
    """unet_cas: the recorded inputs are the segmentation task's first test canvases; the
    served class map is the per-pixel argmax of the probabilities (21 classes) and separates
    the items from the background (trained, not random)."""
    from keras_adastride.segmentation import NUM_CLASSES
    from keras_adastride.segmentation.training import split_for_seed

    entry = [e for e in ENTRIES if e.name == "unet_cas"][-1]
    images = entry.inputs["images"]
    canvases = split_for_seed(0, 1, 1, len(images))["x_test"]
    np.testing.assert_array_equal(images, np.round(canvases * 255).astype(np.uint8))
    probabilities, class_map = entry.outputs["probabilities"], entry.outputs["class_ids"]
    assert probabilities.shape == (*images.shape[:3], NUM_CLASSES)
    np.testing.assert_array_equal(class_map, probabilities.argmax(-1))
    empty = images[..., 0] == 0
    assert np.mean(class_map[empty] == 0) > 0.98 and np.mean(class_map[~empty] > 0) > 0.8


def test_the_detector_serves_boxes_of_the_task_canvases():
    """yolox_cas: the recorded inputs are the detection task's first test canvases; the served
    detections are valid (count within the slots, scores sorted, xyxy boxes clipped to the
    canvas) and
    find the items (trained, not random; a brief training: 15 AP, its scores stay under 0.3):
    most ground-truth boxes of the recorded canvases are matched at IoU >= 0.5 by a detection
    of score >= 0.05, and for half of them one such detection has the right class."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_saved_models",
                                                  REPO / "saved_models" / "make_saved_models.py")
    make_saved_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_saved_models)
    entry = [e for e in ENTRIES if e.name == "yolox_cas"][-1]
    data = make_saved_models.detector_data(test_canvases=len(entry.inputs["images"]))
    np.testing.assert_array_equal(entry.inputs["images"],
                                  np.round(data["x_test"] * 255).astype(np.uint8))
    out = entry.outputs
    size = entry.inputs["images"].shape[1]
    matched = right_class = total = 0
    for i, count in enumerate(out["valid_detections"]):
        assert 0 <= count <= out["boxes"].shape[1]
        scores = out["scores"][i, :count]
        assert np.all(np.diff(scores) <= 1e-6) and np.all(scores >= 0.01)
        boxes = out["boxes"][i, :count]
        assert np.all(boxes[:, 2:] >= boxes[:, :2])
        assert boxes.min() >= 0 and boxes.max() <= size
        truth = data["y_test"]["classes"][i] >= 0
        true_boxes = data["y_test"]["boxes"][i][truth]
        true_classes = data["y_test"]["classes"][i][truth]
        confident = scores >= 0.05
        iou = keras.ops.convert_to_numpy(keras.utils.bounding_boxes.compute_iou(
            true_boxes, boxes[confident], bounding_box_format="xyxy"))
        iou = iou.reshape(len(true_boxes), -1)
        for g in range(len(true_boxes)):
            total += 1
            hits = iou[g] >= 0.5
            matched += bool(hits.any())
            right_class += bool(np.any(out["classes"][i][:count][confident][hits]
                                       == true_classes[g]))
    assert total >= 4 and matched / total >= 0.75 and right_class / total >= 0.5
