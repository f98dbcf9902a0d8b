import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_adastride.cli import build_parser, main
from keras_adastride.data.fashion_mnist import DEBIAN_DIR, FILES

needs_fashion_mnist = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(DEBIAN_DIR, f)) for f in FILES),
    reason="apt-get install dataset-fashion-mnist",
)
VARIANTS = ["original", "cas", "pas", "spd"]


@needs_fashion_mnist
def test_tiny_run_writes_table_csv_json_and_pngs(tmp_path, capsys):
    out = tmp_path / "results"
    assert main([
        "--epochs", "2", "--seeds", "2", "--train-subset", "192", "--val-subset", "64",
        "--test-subset", "128", "--batch-size", "64", "--output", str(out), "--verbose", "0",
        "--gate-images", "3",
    ]) == 0
    printed = capsys.readouterr().out
    for variant in VARIANTS:
        assert f"| {variant} |" in printed
    assert sorted(os.listdir(out)) == sorted(
        ["results.csv", "results.json", "table.md", "learning_curves.png", "gate_maps.png"])

    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == VARIANTS
    for row in rows:
        assert 0.0 <= float(row["test_accuracy_mean"]) <= 1.0
        assert int(row["seeds"]) == 2 and int(row["params"]) > 0 and int(row["flops"]) > 0
        assert float(row["diff_ci95_low"]) <= float(row["diff_to_reference"]) <= float(
            row["diff_ci95_high"])
    assert float(rows[0]["time_per_epoch_relative"]) == pytest.approx(1.0)
    for row in rows[1:3]:  # CAS and PAS report the effective stride of each adaptive layer
        strides = dict(item.split("=") for item in row["effective_strides"].split(";"))
        assert strides and all(float(v) >= 1.0 for v in strides.values())
    assert rows[3]["effective_strides"] == ""

    payload = json.loads((out / "results.json").read_text())
    assert payload["config"]["epochs"] == 2 and payload["reference"] == "original"
    assert len(payload["runs"]) == 8
    for run in payload["runs"]:
        assert len(run["history"]["loss"]) == 2 and len(run["epoch_seconds"]) == 2
    # The accuracy in the summary is the mean of the runs' accuracies.
    cas_runs = [r["test_accuracy"] for r in payload["runs"] if r["variant"] == "cas"]
    assert payload["summary"][1]["test_accuracy_mean"] == pytest.approx(np.mean(cas_runs))

    import matplotlib.image

    for name in ("learning_curves.png", "gate_maps.png"):
        picture = matplotlib.image.imread(out / name)
        assert picture.ndim == 3 and min(picture.shape[:2]) > 200 and picture.std() > 0


def test_help_through_python_m():
    result = subprocess.run([sys.executable, "-m", "keras_adastride", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    for flag in ("--model", "--dataset", "--variants", "--epochs", "--seeds", "--batch-size",
                 "--train-subset", "--output"):
        assert flag in result.stdout


def test_bad_flags_are_rejected(tmp_path):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--dataset", "imagenet"])
    with pytest.raises(ValueError, match="epochs"):
        main(["--epochs", "0", "--output", str(tmp_path)])
    with pytest.raises(ValueError, match="variants"):
        main(["--variants", "cas,cas", "--output", str(tmp_path)])


def test_missing_matplotlib_fails_before_training(tmp_path, monkeypatch):
    from keras_adastride.experiments import compare

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the plots cannot be written")

    monkeypatch.setattr(compare, "load_dataset", no_training)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=r"keras_adastride\[plots\]"):
        main(["--output", str(tmp_path / "out"), "--verbose", "0"])
