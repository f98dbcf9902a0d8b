"""--distribute: the same seeded run on 1 replica and on 2 (two logical CPU devices under
MirroredStrategy; two local workers on 127.0.0.1 under MultiWorkerMirroredStrategy) gives the
same losses, metrics and effective strides; bad values fail before training."""

import functools
import json
import os
import re
import socket
import subprocess
import sys

import numpy as np
import pytest

import keras_adastride
from keras_adastride.cli import main
from keras_adastride.experiments.config import ComparisonConfig
from keras_adastride.experiments.distribute import (check_distribute, check_even_batches,
                                                    multi_worker_fit_fixes, worker_output)

sys.path.insert(0, os.path.dirname(__file__))
import replica_worker  # noqa: E402


@functools.cache
def _single_replica_run():
    """The 1-replica run both comparisons read (trained once per test session)."""
    return replica_worker.train("none")


def _start(out, mode, tf_config=None, backend="tensorflow", **environment):
    package_root = os.path.dirname(os.path.dirname(keras_adastride.__file__))  # this checkout's
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND=backend,
               PYTHONPATH=os.pathsep.join(filter(None, [package_root,
                                                        os.environ.get("PYTHONPATH")])),
               **environment)
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, replica_worker.__file__, str(out), mode], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(process, out):
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(out.read_text())


def _assert_agree(single, replicated, replicas, dropping_stride=1.2):
    assert single["replicas"] == 1 and replicated["replicas"] == replicas
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(replicated["history"][key], single["history"][key],
                                   rtol=1e-3, atol=1e-4, err_msg=key)
    for name, value in single["metrics"].items():
        assert replicated["metrics"][name] == pytest.approx(value, rel=1e-3, abs=1e-4), name
    assert replicated["effective_strides"].keys() == single["effective_strides"].keys()
    for name, value in single["effective_strides"].items():
        assert value > dropping_stride  # the gates drop positions: the comparison says something
        assert replicated["effective_strides"][name] == pytest.approx(value, rel=1e-2), name


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.tensorflow_only
def test_one_and_two_replicas_agree(tmp_path):
    mirrored = _start(tmp_path / "mirrored.json", "mirrored")
    single = _single_replica_run()
    _assert_agree(single, _result(mirrored, tmp_path / "mirrored.json"), 2)


@pytest.mark.tensorflow_only
def test_two_local_workers_agree_with_one_replica(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    multi = [_start(tmp_path / f"worker{i}.json", "multi-worker",
                    {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
             for i in range(2)]
    single = _single_replica_run()
    for i, process in enumerate(multi):
        _assert_agree(single, _result(process, tmp_path / f"worker{i}.json"), 2)


@pytest.mark.jax_only
def test_jax_data_parallel_on_two_devices_agrees_with_one(tmp_path):
    """keras.distribution.DataParallel over two XLA host devices against one device, both on
    the JAX backend (its initial weights differ from TensorFlow's for the same seed)."""
    pytest.importorskip("jax")
    flags = os.environ.get("XLA_FLAGS", "")  # conftest's cheap compile pipeline, kept
    runs = {mode: _start(tmp_path / f"{mode}.json", mode, backend="jax",
                         XLA_FLAGS=f"{flags} --xla_force_host_platform_device_count={devices}")
            for mode, devices in (("none", 1), ("mirrored", 2))}
    single = _result(runs["none"], tmp_path / "none.json")
    # (JAX's seeded start differs from TensorFlow's: its conv1 gate keeps 69%, stride 1.20)
    _assert_agree(single, _result(runs["mirrored"], tmp_path / "mirrored.json"), 2,
                  dropping_stride=1.1)


@pytest.mark.parametrize("batch_size, sizes, message", [
    (32, dict(x_train=200, x_val=50), None),  # last batches of 8 and 18 images: even
    (32, dict(x_train=201, x_val=50), "the last batch of x_train has 9 images (x_train=201"),
    (31, dict(x_train=62), "batch_size has 31 images"),
])
def test_jax_data_parallel_needs_batches_that_split_evenly(batch_size, sizes, message):
    if message is None:
        check_even_batches(2, batch_size, **sizes)
        return
    with pytest.raises(ValueError, match=re.escape(message)):
        check_even_batches(2, batch_size, **sizes)


@pytest.mark.parametrize("distribute, backend, tf_config, message", [
    ("bogus", "tensorflow", None, "distribute must be one of ['none', 'mirrored', 'multi-worker'], "
                                  "got 'bogus'"),
    ("mirrored", "torch", None, "distribute='mirrored' is not available on the torch backend"),
    ("multi-worker", "jax", None, "distribute='multi-worker' is not available on the jax backend"),
    ("multi-worker", "tensorflow", None, "needs the TF_CONFIG environment variable"),
    ("multi-worker", "tensorflow", "{not json", "TF_CONFIG is not valid JSON"),
    ("multi-worker", "tensorflow", '{"cluster": {"worker": ["a:1"]}, "task": {"index": 3}}',
     "TF_CONFIG must name the workers and this process's task"),
])
def test_bad_distribution_fails_before_training(distribute, backend, tf_config, message,
                                                monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    if tf_config is not None:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=re.escape(message)):
        check_distribute(distribute, backend=backend)
    if distribute == "bogus":
        with pytest.raises(ValueError, match=re.escape(message)):
            ComparisonConfig(distribute=distribute)


@pytest.mark.tensorflow_only
def test_multi_worker_fixes_are_only_for_the_keras_that_needs_them():
    from keras.src.backend.tensorflow import trainer

    def patched():
        return trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica

    original = patched()
    with multi_worker_fit_fixes(keras_version="3.16.0"):
        assert patched() == original
    with pytest.raises(RuntimeError, match="inside"):
        with multi_worker_fit_fixes(keras_version="3.15.1"):
            assert all(now is not then for now, then in zip(patched(), original))
            raise RuntimeError("inside")
    assert patched() == original


def test_a_valid_tf_config_passes_the_check(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker",
                                                                       "index": 1}}))
    check_distribute("multi-worker", backend="tensorflow")


@pytest.mark.parametrize("cluster, task, expected", [
    ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 0}, "out"),
    ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 1}, os.path.join("out", "worker1")),
    ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "chief", "index": 0}, "out"),
    ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "worker", "index": 0},
     os.path.join("out", "worker0")),
])
def test_workers_other_than_the_chief_write_to_their_own_folder(cluster, task, expected,
                                                                monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert worker_output("out", "multi-worker") == expected
    assert worker_output("out", "mirrored") == "out"


@pytest.mark.tensorflow_only  # (multi-worker is TensorFlow's)
def test_cli_rejects_a_bad_tf_config_with_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    output = tmp_path / "never_written"
    with pytest.raises(SystemExit) as error:
        main(["--distribute", "multi-worker", "--output", str(output)])
    assert error.value.code == 2
    assert "TF_CONFIG is not valid JSON" in capsys.readouterr().err
    assert not output.exists()


def test_cli_reports_uneven_data_parallel_batches_as_a_usage_error(monkeypatch, capsys):
    """Found in the run (the data's sizes), reported like a bad flag: usage, message, code 2."""
    from keras_adastride.experiments import compare

    def uneven(config, check=False):
        check_even_batches(2, 31, x_train=62)

    monkeypatch.setattr(compare, "run_comparison", uneven)
    with pytest.raises(SystemExit) as error:
        main([])
    assert error.value.code == 2
    assert "batch_size has 31 images" in capsys.readouterr().err
