import csv
import json
import math

import numpy as np
import pytest

from keras_adastride.experiments.report import format_table, summarize, write_csv, write_json
from keras_adastride.experiments.train import RunResult


def _run(variant, seed, accuracy, seconds, strides=None):
    return RunResult(variant=variant, seed=seed,
                     metrics={"test_accuracy": accuracy, "test_loss": 0.0},
                     history={"loss": [1.0], "val_accuracy": [accuracy]},
                     epoch_seconds=[50.0] + [7.0] * len(seconds), epoch_cpu_seconds=[99.0] + seconds,
                     params=10, flops=20, effective_strides=strides or {})


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
    assert cas["test_accuracy_diff"] == pytest.approx(diffs.mean())
    assert (cas["test_accuracy_ci95_low"], cas["test_accuracy_ci95_high"]) == pytest.approx(
        (diffs.mean() - half, diffs.mean() + half))
    assert cas["test_accuracy_mean"] == pytest.approx(np.mean([0.81, 0.86, 0.85]))
    assert cas["test_accuracy_std"] == pytest.approx(np.std([0.81, 0.86, 0.85], ddof=1))
    # The first epoch (tracing) is left out of the times per epoch; the ratio is of CPU times.
    assert cas["cpu_seconds_per_epoch"] == pytest.approx(3.0)
    assert cas["seconds_per_epoch"] == pytest.approx(7.0)
    assert cas["cpu_time_relative"] == pytest.approx(1.5)
    assert cas["effective_strides"] == {"cas_a": pytest.approx(1.5)}
    assert rows[0]["test_accuracy_diff"] == 0.0
    assert "test_loss_mean" not in cas  # only the task's metrics are summarised

    table = format_table(rows, reference)
    assert "(reference)" in table and "cas_a: 1.50" in table and "1.50x" in table
    assert f"{100 * diffs.mean():+.2f}" in table


def test_reference_falls_back_to_first_variant_and_files(tmp_path):
    runs = [_run("pas", 0, 0.5, [1.0]), _run("spd", 0, 0.6, [4.0])]
    rows, reference = summarize(runs)
    assert reference == "pas" and math.isnan(rows[1]["test_accuracy_ci95_low"])
    assert rows[1]["cpu_time_relative"] == pytest.approx(4.0)
    write_csv(rows, tmp_path / "r.csv")
    with open(tmp_path / "r.csv") as f:
        read = list(csv.DictReader(f))
    assert [r["variant"] for r in read] == ["pas", "spd"]
    assert float(read[1]["test_accuracy_mean"]) == pytest.approx(0.6)
    write_json({"summary": rows}, tmp_path / "r.json")
    loaded = json.loads((tmp_path / "r.json").read_text())
    assert loaded["summary"][1]["test_accuracy_ci95_low"] is None  # NaN written as null
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv", "r.json"]  # no temporary left


def test_every_metric_of_the_task_is_summarised_and_tabled():
    def run(variant, seed, ap, ap50):
        record = _run(variant, seed, 0.0, [1.0])
        record.metrics = {"ap": ap, "ap50": ap50}
        return record

    runs = [run("original", 0, 0.30, 0.50), run("original", 1, 0.32, 0.54),
            run("cas", 0, 0.31, 0.49), run("cas", 1, 0.35, 0.53)]
    rows, reference = summarize(runs, metrics=("ap", "ap50"))
    cas = rows[1]
    assert cas["ap_mean"] == pytest.approx(0.33) and cas["ap50_mean"] == pytest.approx(0.51)
    assert cas["ap_diff"] == pytest.approx(0.02) and cas["ap50_diff"] == pytest.approx(-0.01)
    half = 12.706204736174696 * np.std([0.01, 0.03], ddof=1) / math.sqrt(2)  # t(0.975, df=1)
    assert (cas["ap_ci95_low"], cas["ap_ci95_high"]) == pytest.approx((0.02 - half, 0.02 + half))
    table = format_table(rows, reference, metrics=("ap", "ap50"))
    assert "ap % (mean ± std)" in table and "Δ ap50 vs original" in table
    assert "| cas | 33.00 ± 2.83 | +2.00 [" in table


def test_inference_figures_are_averaged_and_tabled(tmp_path):
    def run(variant, seed, dense, sparse, kept, auto=None):
        record = _run(variant, seed, 0.8, [1.0])
        record.inference = {"dense_ms_per_image": dense, "sparse_ms_per_image": sparse,
                            "effective_flops": 100.0 * seed, "sparse_same_predictions":
                            None if sparse is None else 1.0,
                            "kept_tiles": {} if kept is None else {"cas": kept}}
        if auto is not None:  # runs recorded before the auto timing existed lack the key
            record.inference["auto_ms_per_image"] = auto
        return record

    runs = [run("original", 0, 0.2, None, None), run("original", 1, 0.4, None, None),
            run("cas", 0, 0.5, 0.25, 0.2, auto=0.45), run("cas", 1, 0.7, 0.35, 0.4, auto=0.25)]
    rows, reference = summarize(runs)
    cas = rows[1]
    assert cas["dense_ms_per_image"] == pytest.approx(0.6)
    assert cas["sparse_ms_per_image"] == pytest.approx(0.3)
    assert cas["auto_ms_per_image"] == pytest.approx(0.35)
    assert cas["kept_tiles"] == {"cas": pytest.approx(0.3)} and cas["effective_flops"] == 50.0
    assert math.isnan(rows[0]["sparse_ms_per_image"]) and rows[0]["kept_tiles"] == {}
    assert math.isnan(rows[0]["auto_ms_per_image"])
    table = format_table(rows, reference)
    assert "inference CPU ms/image dense / sparse / auto" in table
    assert "| 0.600 / 0.300 / 0.350 |" in table and "cas: 0.30" in table
    assert "| 0.300 / - / - |" in table
    write_csv(rows, tmp_path / "r.csv")
    assert "cas=0.3000" in (tmp_path / "r.csv").read_text()
    assert "inference" not in format_table(summarize([_run("a", 0, 0.5, [1.0])])[0], "a")
