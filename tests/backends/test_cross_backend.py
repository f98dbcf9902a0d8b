"""Across Keras backends, each in a fresh interpreter: a ``.keras`` file saved under one loads
under every other with the same predictions, and on JAX and torch the package neither imports
TensorFlow nor needs it to train, measure and save a model."""

import json
import os
import pathlib
import subprocess
import sys

BACKENDS = ("tensorflow", "jax", "torch")
HERE = pathlib.Path(__file__).parent


def _run(backend, mode, folder):
    path = os.pathsep.join([str(HERE.parent / "layers"), os.environ.get("PYTHONPATH", "")])
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=path)
    result = subprocess.run([sys.executable, str(HERE / "cross_backend_worker.py"), mode,
                             str(folder)], env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{backend} {mode}:\n{result.stderr[-3000:]}"


def test_keras_files_cross_load_and_other_backends_need_no_tensorflow(tmp_path):
    for backend in BACKENDS:
        _run(backend, "save", tmp_path)
    for backend in BACKENDS:
        _run(backend, "load", tmp_path)
        record = json.loads((tmp_path / f"loaded_by_{backend}.json").read_text())
        assert sorted(record["differences"]) == sorted(BACKENDS)
        for saved_by, difference in record["differences"].items():
            assert difference <= 1e-5, (saved_by, backend, difference)
        assert record["trained"]
        if backend != "tensorflow":
            assert record["imported"] == [], backend
