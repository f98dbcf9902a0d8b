import csv
import json
import math

import numpy as np
import pytest

from keras_adastride.experiments.report import format_table, summarize, write_csv, write_json
from keras_adastride.experiments.train import RunResult


def _run(variant, seed, accuracy, seconds, strides=None):
    return RunResult(variant=variant, seed=seed, test_accuracy=accuracy, test_loss=0.0,
                     history={"loss": [1.0], "val_accuracy": [accuracy]},
                     epoch_seconds=[99.0] + seconds, params=10, flops=20,
                     effective_strides=strides or {})


def test_summary_pairs_by_seed_and_ratios_times():
    runs = [
        _run("original", 0, 0.80, [2.0, 2.0]), _run("original", 1, 0.84, [2.0, 2.0]),
        _run("original", 2, 0.82, [2.0, 2.0]),
        # Listed out of seed order: pairing must follow the seed, not the position.
        _run("cas", 2, 0.85, [3.0, 3.0], {"cas_a": 2.0}), _run("cas", 0, 0.81, [3.0, 3.0],
                                                              {"cas_a": 1.0}),
        _run("cas", 1, 0.86, [3.0, 3.0], {"cas_a": 1.5}),
    ]
    rows, reference = summarize(runs)
    assert reference == "original" and [r["variant"] for r in rows] == ["original", "cas"]
    cas = rows[1]
    diffs = np.array([0.81 - 0.80, 0.86 - 0.84, 0.85 - 0.82])
    half = 4.302652729749464 * diffs.std(ddof=1) / math.sqrt(3)  # t(0.975, df=2)
    assert cas["diff_to_reference"] == pytest.approx(diffs.mean())
    assert (cas["diff_ci95_low"], cas["diff_ci95_high"]) == pytest.approx(
        (diffs.mean() - half, diffs.mean() + half))
    assert cas["test_accuracy_mean"] == pytest.approx(np.mean([0.81, 0.86, 0.85]))
    assert cas["test_accuracy_std"] == pytest.approx(np.std([0.81, 0.86, 0.85], ddof=1))
    # The first epoch (tracing) is left out of the time per epoch.
    assert cas["seconds_per_epoch"] == pytest.approx(3.0)
    assert cas["time_per_epoch_relative"] == pytest.approx(1.5)
    assert cas["effective_strides"] == {"cas_a": pytest.approx(1.5)}
    assert rows[0]["diff_to_reference"] == 0.0

    table = format_table(rows, reference)
    assert "(reference)" in table and "cas_a: 1.50" in table and "1.50x" in table
    assert f"{100 * diffs.mean():+.2f}" in table


def test_reference_falls_back_to_first_variant_and_files(tmp_path):
    runs = [_run("pas", 0, 0.5, [1.0]), _run("spd", 0, 0.6, [4.0])]
    rows, reference = summarize(runs)
    assert reference == "pas" and math.isnan(rows[1]["diff_ci95_low"])
    assert rows[1]["time_per_epoch_relative"] == pytest.approx(4.0)
    write_csv(rows, tmp_path / "r.csv")
    with open(tmp_path / "r.csv") as f:
        read = list(csv.DictReader(f))
    assert [r["variant"] for r in read] == ["pas", "spd"]
    assert float(read[1]["test_accuracy_mean"]) == pytest.approx(0.6)
    write_json({"summary": rows}, tmp_path / "r.json")
    loaded = json.loads((tmp_path / "r.json").read_text())
    assert loaded["summary"][1]["diff_ci95_low"] is None  # NaN written as null
