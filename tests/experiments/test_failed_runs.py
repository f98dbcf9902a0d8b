"""Failed-run census: runs that never leave chance level are counted per variant (table, CSV,
JSON), and the metric over the runs that learned is reported beside the plain mean."""

import csv
import json
import os

import numpy as np
import pytest

from keras_adastride.cli import main
from keras_adastride.data.fashion_mnist import DEBIAN_DIR, FILES
from keras_adastride.experiments.report import format_table, summarize, write_csv
from keras_adastride.experiments.tasks.classification import stuck_at_chance
from keras_adastride.experiments.train import RunResult


def _run(variant, seed, accuracy, failed):
    return RunResult(variant=variant, seed=seed, metrics={"test_accuracy": accuracy},
                     history={"loss": [1.0]}, epoch_seconds=[1.0], epoch_cpu_seconds=[1.0],
                     params=10, flops=20, effective_strides={}, failed=failed)


def test_chance_is_what_a_constant_prediction_scores():
    labels = np.array([0] * 6 + [1] * 2 + [2] * 2)  # the majority class is 60%
    assert stuck_at_chance([0.2, 0.64], labels)       # below 60% + 5%
    assert not stuck_at_chance([0.1, 0.66], labels)
    assert not stuck_at_chance([0.2, 0.16], np.arange(10))  # 10 balanced classes: chance 10%
    assert stuck_at_chance([0.9, 0.14], np.arange(10))      # the last epoch decides


def test_failed_runs_are_counted_not_averaged_away(tmp_path):
    runs = [_run("original", s, 0.8 + 0.01 * s, False) for s in range(3)] + [
        _run("cas", 0, 0.79, False), _run("cas", 1, 0.10, True), _run("cas", 2, 0.83, False)]
    rows, _ = summarize(runs)
    original, cas = rows
    assert (original["failed_runs"], original["failed_seeds"]) == (0, [])
    assert (cas["failed_runs"], cas["failed_seeds"]) == (1, [1])
    assert cas["test_accuracy_mean"] == pytest.approx(np.mean([0.79, 0.10, 0.83]))
    assert cas["test_accuracy_learned_mean"] == pytest.approx(np.mean([0.79, 0.83]))
    assert cas["test_accuracy_learned_std"] == pytest.approx(np.std([0.79, 0.83], ddof=1))
    table = format_table(rows, "original")
    assert "runs at chance (seeds)" in table.splitlines()[0]
    # one-sided Fisher exact p of 1/3 against 0/3: 1 - C(5,3)/C(6,3) = 0.5
    assert cas["failed_runs_p"] == pytest.approx(0.5) and original["failed_runs_p"] is None
    assert "| 1/3 (1), p 0.50 | 81.00 ± 2.83 |" in table and "| 0/3 | (all) |" in table
    write_csv(rows, tmp_path / "results.csv")
    with open(tmp_path / "results.csv") as f:
        written = list(csv.DictReader(f))
    assert [(r["failed_runs"], r["failed_seeds"], r["failed_runs_p"]) for r in written] == [
        ("0", "", ""), ("1", "1", "0.5")]
    # a task that marks no run either way: no census column
    unmarked, _ = summarize([_run("original", 0, 0.8, None)])
    assert unmarked[0]["failed_runs"] is None
    assert "runs at chance" not in format_table(unmarked, "original")


@pytest.mark.skipif(not all(os.path.isfile(os.path.join(DEBIAN_DIR, f)) for f in FILES),
                    reason="apt-get install dataset-fashion-mnist")
def test_a_forced_failure_is_counted_in_the_main_jobs_results(tmp_path, capsys):
    """A learning rate of 1e8 wrecks the weights in the first step: the predictions collapse and
    the validation accuracy stays at chance; the run is marked, logged and counted (and the
    results record the pipeline's and the gates' options)."""
    out = tmp_path / "out"
    assert main(["--variants", "original", "--seeds", "1", "--epochs", "1", "--learning-rate",
                 "1e8", "--train-subset", "64", "--val-subset", "40", "--test-subset", "40",
                 "--batch-size", "32", "--gate-images", "2", "--verbose", "0",
                 "--input-size", "30", "--resize", "bilinear", "--gate-width", "4",
                 "--output", str(out)]) == 0
    assert "FAILED: never left chance level" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    assert results["runs"][0]["failed"] is True
    # the model / gate options are recorded with the results
    recorded = results["config"]
    assert (recorded["input_size"], recorded["resize"], recorded["gate_width"]) == (
        30, "bilinear", 4)
    assert results["runs"][0]["input_shape"] == [30, 30, 1]
    assert (results["summary"][0]["failed_runs"], results["summary"][0]["failed_seeds"]) == (1, [0])
    assert "| 1/1 (0) |" in (out / "table.md").read_text()
