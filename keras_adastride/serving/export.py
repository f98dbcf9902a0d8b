"""Export a Keras model as a TF Serving SavedModel: ``<base_dir>/<model_name>/<version>/``.

The ``serving_default`` signature takes the model inputs by name and computes

    x = cast(input, model dtype) * scale + offset          (in the graph; e.g. uint8 -> [0, 1])
    y = model(x, training=False)

and returns the model outputs by name, or, for a classifier, ``probabilities`` (float32, the
softmax of ``y`` when ``from_logits``) and ``class_ids`` (int64, argmax over ``class_axis``;
per pixel for a segmenter). Versions are integers; a new export takes the next one and never
overwrites: it is written to a hidden temporary folder, checked for XLA attributes, and renamed
into place, so TF Serving never sees a half-written version.
"""

import os
import shutil
import tempfile

from keras_adastride.serving.client import SIGNATURE_KEY, predict_request
from keras_adastride.serving.graph_check import xla_findings

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def existing_versions(model_dir):
    """Sorted integer versions under ``model_dir`` (folders whose name is all digits)."""
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(n) for n in os.listdir(model_dir)
                  if n.isdigit() and os.path.isdir(os.path.join(model_dir, n)))


def next_version(base_dir, model_name):
    """1 + the highest existing version of ``model_name`` under ``base_dir`` (1 if none)."""
    versions = existing_versions(os.path.join(os.fspath(base_dir), model_name))
    return versions[-1] + 1 if versions else 1


def _check_model(model):
    import keras

    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "export_model writes TensorFlow SavedModels: set KERAS_BACKEND=tensorflow; "
            f"the backend is {keras.backend.backend()!r}."
        )
    if not isinstance(model, keras.Model):
        raise ValueError(f"model must be a keras.Model; received {type(model).__name__}.")
    if not model.built:
        raise ValueError(
            f"model {model.name!r} is not built: its input shape is unknown. Build it (give it a "
            "keras.Input, call model.build(input_shape), or call it on data) before exporting."
        )
    try:
        inputs = model.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise ValueError(
            f"model {model.name!r} has no symbolic inputs (a subclassed model): export a "
            "functional or Sequential model, whose inputs give the signature."
        )
    return inputs


def _check_name(model_name):
    if (not isinstance(model_name, str) or not model_name or model_name in (".", "..")
            or "/" in model_name or os.sep in model_name):
        raise ValueError(
            "model_name must be a non-empty folder name without path separators; received "
            f"model_name={model_name!r}."
        )


def _names(given, default, what):
    names = list(default if given is None else given)
    if len(names) != len(default) or len(set(names)) != len(names):
        raise ValueError(
            f"{what} must be {len(default)} distinct names (one per model {what[:-6]}); "
            f"received {what}={given!r}."
        )
    return names


def _model_output_names(model):
    """A functional model's output names; a Sequential model's single output is its last layer's."""
    return list(getattr(model, "output_names", None) or [model.layers[-1].name])


def _serving_function(model, input_dtypes, model_dtypes, scale, offset, output_names,
                      classifier, from_logits, class_axis):
    """The signature's Python function: preprocessing, the model, named outputs."""
    import tensorflow as tf

    def serve(*inputs):
        tensors = []
        for x, source, target in zip(inputs, input_dtypes, model_dtypes):
            if source != target:
                x = tf.cast(x, target)
            if scale is not None:
                x = x * tf.constant(scale, target)
            if offset:
                x = x + tf.constant(offset, target)
            tensors.append(x)
        outputs = model(tensors[0] if len(tensors) == 1 else tensors, training=False)
        outputs = tf.nest.flatten(outputs)
        if not classifier:
            return dict(zip(output_names, outputs))
        scores = tf.cast(outputs[0], tf.float32)
        probabilities = tf.nn.softmax(scores, axis=class_axis) if from_logits else scores
        return {"probabilities": probabilities,
                "class_ids": tf.argmax(probabilities, axis=class_axis, output_type=tf.int64)}

    return serve


def export_model(model, base_dir, model_name, version=None, *, input_dtype=None, scale=None,
                 offset=0.0, classifier=False, from_logits=False, class_axis=-1,
                 input_names=None, output_names=None, warmup_inputs=None):
    """Write ``model`` to ``<base_dir>/<model_name>/<version>/`` for TF Serving.

    Args:
        model: a built functional or Sequential Keras model (TensorFlow backend).
        base_dir: the model base folder (TF Serving's ``--model_base_path`` is its
            ``<base_dir>/<model_name>``); created if missing.
        model_name: the served model's name (a folder name).
        version: integer >= 1, or None for :func:`next_version`. An existing version is an error.
        input_dtype: dtype clients send (e.g. "uint8"), cast in the graph to the model's input
            dtype; None: the model's own input dtype.
        scale, offset: in-graph preprocessing ``x * scale + offset`` after the cast (e.g.
            ``scale=1/255`` for uint8 images); None / 0 to skip.
        classifier: return ``probabilities`` and ``class_ids`` instead of the raw outputs
            (single-output models; ``class_ids`` = argmax over ``class_axis``).
        from_logits: the model outputs logits: ``probabilities`` is their softmax.
        input_names, output_names: signature keys; default the model's input / output names.
        warmup_inputs: optional ``{input_name: batch}`` written as TF Serving warm-up request
            (``assets.extra/tf_serving_warmup_requests``; needs ``tensorflow-serving-api``).

    Returns:
        the path of the version folder.

    Raises:
        ValueError: unbuilt or subclassed model, bad names or version, a non-TF backend.
        FileExistsError: the version folder exists already.
        OSError: ``<base_dir>/<model_name>`` cannot be created.
        RuntimeError: the written graph holds XLA attributes or ops (the export is removed).
    """
    import keras
    import tensorflow as tf

    inputs = _check_model(model)
    _check_name(model_name)
    input_names = _names(input_names, [t.name for t in inputs], "input_names")
    classifier_outputs = ["probabilities", "class_ids"]
    if classifier and len(model.outputs) != 1:
        raise ValueError(
            f"classifier=True needs a single-output model; model {model.name!r} has "
            f"{len(model.outputs)} outputs."
        )
    if classifier and output_names is not None:
        raise ValueError("classifier=True names its outputs 'probabilities' and 'class_ids'; "
                         f"do not pass output_names (received {output_names!r}).")
    if from_logits and not classifier:
        raise ValueError("from_logits=True applies to classifiers: pass classifier=True too.")
    output_names = (classifier_outputs if classifier
                    else _names(output_names, _model_output_names(model), "output_names"))
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)
                                or version < 1):
        raise ValueError(f"version must be an integer >= 1 or None; received version={version!r}.")

    model_dir = os.path.join(os.fspath(base_dir), model_name)
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as err:
        raise OSError(
            f"cannot create the model folder {model_dir!r} under base_dir={os.fspath(base_dir)!r}: "
            f"{err.strerror or err}"
        ) from err
    version = next_version(base_dir, model_name) if version is None else version
    final_dir = os.path.join(model_dir, str(version))
    if os.path.lexists(final_dir):
        raise FileExistsError(
            f"version {version} of {model_name!r} exists already at {final_dir!r}; exports never "
            "overwrite: pass another version or version=None for the next one."
        )

    model_dtypes = [tf.as_dtype(keras.backend.standardize_dtype(t.dtype)) for t in inputs]
    input_dtypes = ([tf.as_dtype(input_dtype)] * len(inputs) if input_dtype is not None
                    else model_dtypes)
    if (scale is not None or offset) and not all(d.is_floating for d in model_dtypes):
        raise ValueError(
            f"scale / offset need floating model inputs; the model takes {model_dtypes} "
            f"(received scale={scale!r}, offset={offset!r})."
        )
    signature = [tf.TensorSpec(t.shape, dtype, name=name)
                 for t, dtype, name in zip(inputs, input_dtypes, input_names)]
    serve = _serving_function(model, input_dtypes, model_dtypes, scale, offset, output_names,
                              classifier, from_logits, class_axis)

    function = tf.function(serve, input_signature=signature, autograph=False)
    concrete = function.get_concrete_function()
    # A bare tf.Module tracking exactly the variables the signature reads: Keras 3.15's
    # ExportArchive tracks each variable twice (keras.Variable and tf.Variable) and so writes
    # every weight twice; a compiled model's optimizer slots stay out as well. ``serve`` is the
    # signature's concrete function itself: the tf.function would be saved as a second copy of
    # the graph (the detector's saved_model.pb: 2.9 MB with it, 1.9 MB without).
    module = tf.Module()
    module.serve = concrete
    module.variables_read = list(concrete.variables)
    staging = tempfile.mkdtemp(prefix=f".export-{version}-", dir=model_dir)
    try:
        os.chmod(staging, 0o755)  # mkdtemp's 0o700 would hide the version from a server user
        tf.saved_model.save(module, staging, signatures={SIGNATURE_KEY: concrete})
        if warmup_inputs is not None:
            write_warmup_requests(staging, warmup_inputs, model_name)
        findings = xla_findings(staging)
        if findings:
            raise RuntimeError(
                "the exported graph holds XLA attributes that TF Serving builds without XLA "
                "reject (a layer compiled with jit_compile=True while tracing; Keras 3 runs "
                "a grouped Conv2D, groups > 1, through XLA on TensorFlow): "
                + "; ".join(findings[:5])
            )
        if os.path.lexists(final_dir):  # another writer was faster
            raise FileExistsError(f"version folder {final_dir!r} appeared during the export.")
        os.rename(staging, final_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final_dir


def write_warmup_requests(export_dir, inputs, model_name, signature_name=SIGNATURE_KEY):
    """Write ``inputs`` as one warm-up ``PredictionLog`` that TF Serving replays on load."""
    import tensorflow as tf
    from tensorflow_serving.apis import prediction_log_pb2

    request = predict_request(inputs, model_name, signature_name=signature_name)
    log = prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request))
    path = os.path.join(os.fspath(export_dir), WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(log.SerializeToString())
    return path
