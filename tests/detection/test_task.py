"""--task detection: argument checks before any training, and one tiny run end to end."""

import json

import pytest

from keras_adastride.experiments.compare import run_comparison
from keras_adastride.experiments.config import ComparisonConfig
from keras_adastride.experiments.tasks import get_task


@pytest.mark.parametrize("changes, match", [
    (dict(model="small_vgg"), "model must be one of"),
    (dict(variants=("original", "pas")), "got 'pas'"),
    (dict(train_subset=None), "train_subset"),
    (dict(test_subset=3, gate_images=4), "gate_images"),
])
def test_bad_configurations(changes, match):
    config = ComparisonConfig(task="detection", **changes)
    with pytest.raises(ValueError, match=match):
        get_task("detection").validate(config)


def test_tiny_comparison_writes_scores_and_pictures(tmp_path):
    config = ComparisonConfig(task="detection", variants=("cas",), seeds=1, epochs=1,
                              batch_size=8, train_subset=8, val_subset=4, test_subset=4,
                              gate_images=2, output=str(tmp_path), verbose=0)
    result = run_comparison(config, log=lambda *_: None)
    (run,) = result["runs"]
    assert set(get_task("detection").metrics) <= set(run.metrics)
    assert {"test_loss", "test_box_loss"} <= set(run.metrics)
    assert len(run.history["val_AP"]) == 1
    assert set(run.effective_strides) == {f"head_{l}_{p}" for l in ("p3", "p4", "p5")
                                          for p in ("stem", "cls_conv1")}
    for name in ("results.csv", "table.md", "learning_curves.png", "detections.png"):
        assert (tmp_path / name).stat().st_size > 0
    record = json.loads((tmp_path / "runs" / "cas_seed0.json").read_text())
    assert record["run"]["params"] == run.params
