"""``--task segmentation``: checks before training, and a tiny end-to-end run through the CLI."""

import json
import os

import pytest

from keras_adastride.cli import main
from keras_adastride.experiments.config import ComparisonConfig
from keras_adastride.experiments.tasks import TASKS
from keras_adastride.segmentation import CLASS_NAMES

VARIANTS = ["cas", "nodown"]  # one U-Net variant with a gate, and the no-downsampling net


@pytest.mark.parametrize("changes, message", [
    ({"model": "small_vgg"}, r"model must be one of \['unet'\].*'nodown'.*got 'small_vgg'"),
    ({"variants": ("original", "strided")}, r"variants must be among \[.*'nodown'\].*'strided'"),
    ({"train_subset": None}, "train_subset must be a number of training canvases"),
    ({"test_subset": 3, "gate_images": 4}, "gate_images must be at most the 3 test canvases"),
])
def test_segmentation_validates_before_loading(changes, message):
    config = ComparisonConfig(task="segmentation", **changes)
    with pytest.raises(ValueError, match=message):
        TASKS["segmentation"].validate(config)


def test_tiny_run_compares_unet_variants_and_the_no_downsampling_net(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["--task", "segmentation", "--variants", ",".join(VARIANTS), "--epochs", "1",
                 "--seeds", "1", "--train-subset", "16", "--val-subset", "8", "--test-subset",
                 "8", "--batch-size", "8", "--gate-images", "2", "--output", str(out),
                 "--verbose", "0"]) == 0
    printed = capsys.readouterr().out
    assert "test mean iou % (mean ± std)" in printed and "test pixel accuracy" in printed
    assert sorted(os.listdir(out)) == sorted(["config.json", "results.csv", "results.json", "table.md", "runs",
                                              "learning_curves.png", "segmentations.png"])
    payload = json.loads((out / "results.json").read_text())
    assert [row["variant"] for row in payload["summary"]] == VARIANTS
    by_variant = {}
    for run in payload["runs"]:
        by_variant.setdefault(run["variant"], []).append(run)
        metrics = run["metrics"]
        assert {f"test_iou/{name}" for name in CLASS_NAMES} <= set(metrics)
        assert 0.0 <= metrics["test_mean_iou"] <= metrics["test_pixel_accuracy"] <= 1.0
        assert "val_mean_iou" in run["history"] and "val_pixel_accuracy" in run["history"]
    summary = {row["variant"]: row for row in payload["summary"]}
    assert payload["reference"] == "cas"  # the first variant when "original" is not run
    assert summary["nodown"]["params"] < summary["cas"]["params"] / 10  # the trade
    assert summary["nodown"]["flops"] > summary["cas"]["flops"]
    assert list(summary["cas"]["effective_strides"]) == ["down2"]
    assert summary["nodown"]["test_mean_iou_mean"] == pytest.approx(
        by_variant["nodown"][0]["metrics"]["test_mean_iou"])

    import matplotlib.image

    picture = matplotlib.image.imread(out / "segmentations.png")
    assert picture.ndim == 3 and min(picture.shape[:2]) > 200 and picture.std() > 0
