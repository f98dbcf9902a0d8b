"""The main job, killed mid-run (SIGTERM, then SIGKILL) and started again, ends with the table
of an uninterrupted run; finished runs are never retrained nor half-written; another
configuration on the same output folder is refused."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from keras_adastride.cli import main

FLAGS = ["--dataset", "digits", "--model", "dilated_vgg", "--variants", "original,cas",
         "--seeds", "2", "--epochs", "2", "--train-subset", "96", "--val-subset", "32",
         "--test-subset", "64", "--batch-size", "8", "--learning-rate", "0.01",
         "--gate-images", "2", "--verbose", "0"]


def _measured_time(key):
    """Columns / fields that are measured times (they differ between any two runs)."""
    return "seconds" in key or "ms_per_image" in key or key == "cpu_time_relative"


def _start(output):
    return subprocess.Popen([sys.executable, "-m", "keras_adastride", *FLAGS, "--output", output],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def _kill_when(process, path, sig, timeout=600):
    """Send ``sig`` as soon as ``path`` exists (a run's first epoch backed up)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(sig)
    process.communicate(timeout=120)
    assert process.returncode == -sig


def _finished_runs(runs):
    """Every run record in ``runs`` parses (none half-written) and no temporary file is left."""
    names = sorted(os.listdir(runs))
    assert not [n for n in names if ".tmp" in n], names
    for name in names:
        if name.endswith(".json"):
            with open(os.path.join(runs, name)) as f:
                json.load(f)
    return [n for n in names if n.endswith(".json")]


def _scores(output):
    with open(os.path.join(output, "results.csv")) as f:
        rows = [{k: v for k, v in row.items() if not _measured_time(k)}
                for row in csv.DictReader(f)]
    with open(os.path.join(output, "results.json")) as f:
        runs = {(r["variant"], r["seed"]): {k: v for k, v in r.items() if not _measured_time(k)}
                for r in json.load(f)["runs"]}
    for run in runs.values():
        run["inference"] = {k: v for k, v in run["inference"].items() if not _measured_time(k)}
    return rows, runs


def test_killed_job_resumes_to_the_uninterrupted_table(tmp_path, capsys):
    output = str(tmp_path / "resumed")
    runs = os.path.join(output, "runs")
    process = _start(output)  # SIGTERM in the second run, after its first epoch
    _kill_when(process, os.path.join(runs, "cas_seed0.backup", "training_metadata.json"),
               signal.SIGTERM)
    assert _finished_runs(runs) == ["original_seed0.json"]
    process = _start(output)  # SIGKILL in the fourth run
    _kill_when(process, os.path.join(runs, "cas_seed1.backup", "training_metadata.json"),
               signal.SIGKILL)
    assert _finished_runs(runs) == ["cas_seed0.json", "original_seed0.json", "original_seed1.json"]
    process = _start(output)  # meanwhile, the uninterrupted reference in this process
    reference = str(tmp_path / "reference")
    assert main([*FLAGS, "--output", reference]) == 0
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr[-3000:]
    assert stdout.count("finished before") == 3 and stdout.count("resumed from its backup") == 1
    assert len(_finished_runs(runs)) == 4
    assert not [n for n in os.listdir(runs) if n.endswith((".backup", ".csv"))]
    resumed_rows, resumed_runs = _scores(output)
    reference_rows, reference_runs = _scores(reference)
    assert resumed_rows == reference_rows  # accuracies, their spread and CIs, params, strides
    assert resumed_runs == reference_runs  # every run's metrics and per-epoch logs, exactly
    for run in reference_runs.values():  # they learn: the compared trajectories move
        losses = run["history"]["loss"]
        assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses


def test_another_configuration_on_the_same_output_is_refused(tmp_path, capsys):
    output = str(tmp_path / "out")
    os.makedirs(output)
    with open(os.path.join(output, "config.json"), "w") as f:
        json.dump({"epochs": 5}, f)
    with pytest.raises(SystemExit) as error:
        main([*FLAGS, "--output", output])
    assert error.value.code == 2
    message = capsys.readouterr().err
    assert f"output {output!r} holds the runs of a different configuration" in message
    assert "epochs: 5 there, 2 now" in message
