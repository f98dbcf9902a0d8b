import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_adastride.cli import main
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
        ["config.json", "results.csv", "results.json", "table.md", "learning_curves.png",
         "gate_maps.png", "runs"])
    assert sorted(os.listdir(out / "runs")) == sorted(  # the first seed's models for the pictures
        [f"{variant}_seed{seed}.json" for variant in VARIANTS for seed in (0, 1)]
        + [f"{variant}_seed0.keras" for variant in VARIANTS])

    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == VARIANTS
    for row in rows:
        assert 0.0 <= float(row["test_accuracy_mean"]) <= 1.0
        assert int(row["seeds"]) == 2 and int(row["params"]) > 0 and int(row["flops"]) > 0
        assert float(row["test_accuracy_ci95_low"]) <= float(row["test_accuracy_diff"]) <= float(
            row["test_accuracy_ci95_high"])
    assert float(rows[0]["cpu_time_relative"]) == pytest.approx(1.0)
    for row in rows[1:3]:  # CAS and PAS report the effective stride of each adaptive layer
        strides = dict(item.split("=") for item in row["effective_strides"].split(";"))
        assert strides and all(float(v) >= 1.0 for v in strides.values())
    assert rows[3]["effective_strides"] == ""

    payload = json.loads((out / "results.json").read_text())
    assert payload["config"]["epochs"] == 2 and payload["reference"] == "original"
    assert len(payload["runs"]) == 8
    for run in payload["runs"]:
        assert len(run["history"]["loss"]) == 2 and len(run["epoch_cpu_seconds"]) == 2
        # Each run was also written on its own, as soon as it ended.
        alone = json.loads((out / "runs" / f"{run['variant']}_seed{run['seed']}.json").read_text())
        assert alone["run"]["metrics"] == run["metrics"] and alone["config"] == payload["config"]
    # The accuracy in the summary is the mean of the runs' accuracies.
    cas_runs = [r["metrics"]["test_accuracy"] for r in payload["runs"] if r["variant"] == "cas"]
    assert payload["summary"][1]["test_accuracy_mean"] == pytest.approx(np.mean(cas_runs))

    import matplotlib.image

    for name in ("learning_curves.png", "gate_maps.png"):
        picture = matplotlib.image.imread(out / name)
        assert picture.ndim == 3 and min(picture.shape[:2]) > 200 and picture.std() > 0


def test_help_through_python_m_loads_no_tensorflow():
    """``--help`` answers at once: neither TensorFlow nor Keras (nor any registered task's
    dependencies) is imported (``-X importtime`` lists every module imported)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "keras_adastride", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "keras_adastride" in imported and "argparse" in imported
    assert not imported & {"tensorflow", "keras", "tf_keras", "matplotlib"}
    for flag in ("--model", "--dataset", "--variants", "--epochs", "--seeds", "--batch-size",
                 "--train-subset", "--output"):
        assert flag in result.stdout


@pytest.mark.parametrize("caller, seen", [(None, "1"), ("0", "0")])
def test_commands_turn_onednn_on_unless_the_caller_chose(caller, seen):
    """TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, when it loads: a command sets it first (a
    value of the caller's stays); a plain ``import keras_adastride`` leaves it alone."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if caller is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = caller
    show = "import os; print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'))"
    command = f"import sys; sys.argv = ['-m']; import keras_adastride; {show}"
    as_command = subprocess.run([sys.executable, "-c", command], env=env, capture_output=True,
                                text=True, timeout=120)
    assert as_command.stdout.strip() == seen, as_command.stderr[-2000:]
    if caller is None:
        as_library = subprocess.run([sys.executable, "-c", f"import keras_adastride; {show}"],
                                    env=env, capture_output=True, text=True, timeout=120)
        assert as_library.stdout.strip().splitlines()[-1] == "None", as_library.stderr[-2000:]


@needs_fashion_mnist
def test_a_failure_mid_way_keeps_the_finished_runs(tmp_path, monkeypatch):
    from keras_adastride.experiments.tasks import TASKS
    from keras_adastride.experiments.train import RunResult

    import keras

    def first_two_then_fail(model_name, variant, seed, data, config, gate_options,
                            backup_dir=None):
        if variant == "pas":
            raise RuntimeError("out of memory")
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        return RunResult(variant, seed, {"test_accuracy": 0.5 + seed}, {"loss": [1.0]}, [1.0],
                         [2.0], 10, 20, {}, model=model)

    monkeypatch.setattr(TASKS["classification"], "train_run", first_two_then_fail)
    out = tmp_path / "results"
    with pytest.raises(RuntimeError, match="out of memory"):
        main(["--seeds", "1", "--first-seed", "3", "--output", str(out), "--verbose", "0",
              "--variants", "original,cas,pas,spd"])
    assert sorted(os.listdir(out / "runs")) == [  # the first seed's models for the pictures
        "cas_seed3.json", "cas_seed3.keras", "original_seed3.json", "original_seed3.keras"]
    record = json.loads((out / "runs" / "cas_seed3.json").read_text())
    assert record["run"]["variant"] == "cas" and record["run"]["metrics"]["test_accuracy"] == 3.5
    assert record["config"]["first_seed"] == 3


BAD_VALUES = [
    (["--seeds", "-1"], "seeds must be an integer >= 1, got -1"),
    (["--seeds", "two"], "argument --seeds: invalid int value: 'two'"),
    (["--epochs", "0"], "epochs must be an integer >= 1, got 0"),
    (["--first-seed", "-1"], "first_seed must be an integer >= 0, got -1"),
    (["--batch-size", "0"], "batch_size must be an integer >= 1, got 0"),
    (["--learning-rate", "-1"], "learning_rate must be > 0, got -1.0"),
    (["--learning-rate", "nan"], "learning_rate must be > 0, got nan"),
    (["--train-subset", "abc"], "argument --train-subset: must be a positive integer or 'all', "
                                "got 'abc'"),
    (["--train-subset", "0"], "argument --train-subset: must be a positive integer or 'all'"),
    (["--test-subset", "-5"], "argument --test-subset: must be a positive integer or 'all'"),
    (["--val-subset", "0"], "val_subset must be an integer >= 1, got 0"),
    (["--gate-images", "0"], "gate_images must be an integer >= 1, got 0"),
    (["--target-stride", "0.5"], "target_stride must be >= 1 or None, got 0.5"),
    (["--target-stride", "two"], "argument --target-stride: must be a number or 'none', got "
                                 "'two'"),
    (["--target-stride-weight", "0"], "target_stride_weight must be > 0, got 0.0"),
    (["--verbose", "3"], "argument --verbose: invalid choice: 3"),
    (["--dataset", "imagenet"], "argument --dataset: invalid choice: 'imagenet'"),
    (["--task", "nosuch"], "argument --task: invalid choice: 'nosuch'"),
    (["--variants", "cas,cas"], "variants must be distinct and non-empty"),
    (["--variants", ","], "variants must be distinct and non-empty"),
    # Checked against the task and the data (builders called, nothing loaded or trained):
    (["--model", "nosuch"], "model must be one of ["),
    (["--model", "unet"], "for the classification task, got 'unet'"),
    (["--model", "vgg11", "--input-size", "28"], "model 'vgg11' cannot be built with variant "
                                                 "'original' for fashion_mnist images (28, 28, 1)"),
    (["--model", "vgg11", "--width", "0"], "width must be > 0 or None, got 0.0"),
    (["--gate-init", "zeros"], "gate_init='zeros'"),
    (["--kernel-init", "orthogonal"], "argument --kernel-init: invalid choice: 'orthogonal'"),
    (["--placements", "block9_pool"], "placements=['block9_pool']"),
    (["--resize", "nearest"], "argument --resize: invalid choice: 'nearest'"),
    (["--variants", "cas,foo"], "cannot be built with variant 'foo'"),
    (["--model", "dilated_vgg"], "cannot be built with variant 'pas'"),
    (["--train-subset", "59001"], "train_subset must be at most 59000"),
    (["--val-subset", "60000"], "val_subset must be smaller than the 60000 training images"),
    (["--dataset", "digits"], "train_subset must be at most 438 (the digits training images not "
                              "held out for validation) or all, got 5000"),
    (["--dataset", "digits", "--train-subset", "all", "--val-subset", "200", "--test-subset",
      "360"], "test_subset must be at most the 359 test images of digits"),
    (["--test-subset", "2"], "gate_images must be at most the 2 test images scored, got 4"),
]


@pytest.mark.parametrize("argv, message", BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_a_bad_value_is_a_usage_error_before_any_data_or_training(argv, message, tmp_path,
                                                                 monkeypatch, capsys):
    from keras_adastride.experiments.tasks import TASKS

    def no_work(*args, **kwargs):
        raise AssertionError("loaded data or trained although an argument is bad")

    for step in ("load", "split", "train_run"):
        monkeypatch.setattr(TASKS["classification"], step, no_work)
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: keras-adastride") and "error: " in err and message in err
    assert "Traceback" not in err and "invalid _subset" not in err
    assert not (tmp_path / "out").exists()


def test_a_bad_value_is_reported_without_loading_tensorflow():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "keras_adastride",
                             "--epochs", "0", "--model", "nosuch"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "keras-adastride: error: epochs must be an integer >= 1, got 0." in result.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines()
                if line.startswith("import time:")}
    assert "keras_adastride" in imported and not imported & {"tensorflow", "keras"}


def test_missing_matplotlib_fails_before_training(tmp_path, monkeypatch):
    from keras_adastride.experiments.tasks import TASKS

    def no_training(*args, **kwargs):
        raise AssertionError("trained although the plots cannot be written")

    monkeypatch.setattr(TASKS["classification"], "load", no_training)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(ImportError, match=r"keras_adastride\[plots\]"):
        main(["--output", str(tmp_path / "out"), "--verbose", "0"])


def test_budget_off_on_request_and_verbosity_follows_the_terminal(monkeypatch):
    import io

    from keras_adastride.cli import build_parser
    from keras_adastride.experiments.config import ComparisonConfig

    assert build_parser().parse_args(["--target-stride", "none"]).target_stride is None
    assert ComparisonConfig(**vars(build_parser().parse_args([]))).target_stride == 2.0

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert ComparisonConfig().verbose == 1  # progress bars on a terminal
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert ComparisonConfig().verbose == 2  # one line per epoch in a log file
    assert ComparisonConfig(verbose=0).verbose == 0


def test_each_task_trains_on_its_own_budget_unless_told_otherwise():
    from keras_adastride.cli import build_parser
    from keras_adastride.experiments.config import ComparisonConfig

    def parsed(*argv):
        return ComparisonConfig(**vars(build_parser().parse_args(list(argv))))

    classification, detection = parsed(), parsed("--task", "detection")
    assert (classification.epochs, classification.batch_size, classification.train_subset,
            classification.test_subset) == (3, 128, 5000, None)
    assert (detection.epochs, detection.batch_size, detection.learning_rate,
            detection.train_subset, detection.val_subset, detection.test_subset) == \
        (8, 32, 2e-3, 1500, 200, 500)
    segmentation = parsed("--task", "segmentation", "--epochs", "2", "--test-subset", "all")
    assert (segmentation.epochs, segmentation.batch_size, segmentation.train_subset,
            segmentation.test_subset) == (2, 32, 3000, None)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1, got 0"):
        ComparisonConfig(task="detection", epochs=0)
