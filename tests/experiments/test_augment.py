"""The classification pipeline's data options: ``augment`` (Keras RandomFlip / RandomTranslation
on training batches only, drawn from seed, epoch and batch) and ``classes`` (a k-class task cut
from a ten-class set), both recorded in the results; bad values refused, naming the value."""

import json
import os

import numpy as np
import pytest

import keras

from keras_adastride.cli import main
from keras_adastride.data.augment import BatchAugmenter, check_augment
from keras_adastride.data.fashion_mnist import DEBIAN_DIR, FILES
from keras_adastride.experiments.config import ComparisonConfig
from keras_adastride.experiments.tasks import TASKS
from keras_adastride.experiments.tasks.classification import select_classes
from keras_adastride.experiments.train import EpochShuffled, fit_run

needs_fashion_mnist = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(DEBIAN_DIR, f)) for f in FILES),
    reason="apt-get install dataset-fashion-mnist",
)


def images(n=16, side=12, seed=0):
    return np.random.default_rng(seed).random((n, side, side, 1), "float32") + 0.1  # no zeros


def shifted(image, dy, dx):
    """``image`` moved by (dy, dx) pixels, zeros where nothing moved in (NumPy reference)."""
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = image[
        max(-dy, 0):h + min(-dy, 0), max(-dx, 0):w + min(-dx, 0)]
    return out


def test_flip_mirrors_some_images_and_keeps_the_others():
    x = images()
    y = BatchAugmenter(["flip"], seed=0)(x, epoch=0, index=0)
    mirrored = [np.array_equal(y[i], x[i, :, ::-1]) for i in range(len(x))]
    kept = [np.array_equal(y[i], x[i]) for i in range(len(x))]
    assert all(m != k for m, k in zip(mirrored, kept))  # each image one or the other
    assert 0 < sum(mirrored) < len(x)


def test_translate_moves_pixels_by_whole_pixels_within_the_factor():
    x = images(side=20)  # factor 0.1: at most 2 pixels each way
    y = BatchAugmenter(["translate"], seed=1)(x, epoch=0, index=0)
    offsets = []
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if np.array_equal(shifted(x[i], dy, dx), y[i])]
        assert len(found) == 1, f"image {i} is not a shifted copy"
        offsets.append(found[0])
    assert len(set(offsets)) > 3
    assert any(dy != dx for dy, dx in offsets)  # vertical and horizontal drawn independently


def test_the_draw_depends_on_seed_epoch_and_batch_only():
    x = images()
    augment = BatchAugmenter(["flip", "translate"], seed=3)
    first = augment(x, epoch=2, index=5)
    augment(x, epoch=0, index=0)  # other draws in between change nothing
    np.testing.assert_array_equal(BatchAugmenter(("flip", "translate"), 3)(x, 2, 5), first)
    np.testing.assert_array_equal(augment(x, 2, 5), first)
    for other in (augment(x, 3, 5), augment(x, 2, 6), BatchAugmenter(["flip", "translate"], 4)(
            x, 2, 5)):
        assert not np.array_equal(other, first)


class Recorder(keras.Model):
    """A linear classifier that keeps every image batch it is trained and evaluated on."""

    def __init__(self):
        inputs = keras.Input((12, 12, 1))
        super().__init__(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))
        self.trained, self.evaluated = [], []

    def train_step(self, data):
        self.trained.append(keras.ops.convert_to_numpy(data[0]))
        return super().train_step(data)

    def test_step(self, data):
        self.evaluated.append(keras.ops.convert_to_numpy(data[0]))
        return super().test_step(data)


def test_only_training_batches_are_augmented():
    x = images(n=24)
    data = {"x_train": x[:16], "y_train": np.arange(16) % 2, "x_val": x[16:],
            "y_val": np.arange(8) % 2}
    model = Recorder()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  run_eagerly=True)
    fit_run(model, data, seed=0, epochs=2, batch_size=8, verbose=0,
            augment=BatchAugmenter(["flip"], seed=0))
    # training: the epoch's shuffled batches, each image flipped or not, at least one flipped
    plain = EpochShuffled(data["x_train"], data["y_train"], 8, seed=0)
    for epoch in range(2):
        plain.set_epoch(epoch)
        for index in range(2):
            seen, raw = model.trained[2 * epoch + index], plain[index][0]
            assert all(np.array_equal(s, r) or np.array_equal(s, r[:, ::-1])
                       for s, r in zip(seen, raw))
    assert any(not np.array_equal(seen, plain[i][0]) for i, seen in enumerate(model.trained[2:]))
    # validation after each epoch: the images as they are
    assert len(model.evaluated) == 2
    for seen in model.evaluated:
        np.testing.assert_array_equal(seen, data["x_val"])


def test_select_classes_keeps_and_relabels_in_the_given_order():
    x = np.arange(10)[:, None, None] * np.ones((10, 2, 2))
    y = np.array([0, 6, 3, 6, 0, 1, 6, 9, 0, 2], np.uint8)
    (x_train, y_train), (x_test, y_test) = select_classes(((x, y), (x[:4], y[:4])), (6, 0))
    np.testing.assert_array_equal(y_train, [1, 0, 0, 1, 0, 1])  # 6 -> 0, 0 -> 1
    np.testing.assert_array_equal(x_train[:, 0, 0], [0, 1, 3, 4, 6, 8])
    assert y_train.dtype == np.uint8
    np.testing.assert_array_equal(y_test, [1, 0, 0])


@pytest.mark.parametrize("fields, message", [
    (dict(augment=("flip", "rotate")), r"augment must be distinct names from \['flip', "
                                       r"'translate'\].*'rotate' is not one"),
    (dict(augment=("flip", "flip")), r"augment=\('flip', 'flip'\) \(a name repeated\)"),
    (dict(classes=(3,)), r"classes=\(3,\)"),
    (dict(classes=(1, 1)), r"classes=\(1, 1\)"),
    (dict(classes=(-1, 2)), r"classes=\(-1, 2\)"),
    (dict(classes=("a", "b")), r"classes=\('a', 'b'\)"),
    (dict(task="segmentation", augment=("flip",)),
     r"augment is not an option of the segmentation task.*augment=\('flip',\)"),
    (dict(task="detection", classes=(0, 1)), r"classes is not an option of the detection task"),
])
def test_bad_data_options_are_named(fields, message):
    with pytest.raises(ValueError, match=message):
        ComparisonConfig(**fields)
    with pytest.raises(ValueError, match="rotate"):
        check_augment("rotate")


def test_classes_beyond_the_data_set_are_refused_before_loading():
    with pytest.raises(ValueError, match=r"10 classes of fashion_mnist.*classes=\(0, 10\)"):
        TASKS["classification"].validate(ComparisonConfig(classes=(0, 10)))


@needs_fashion_mnist
def test_subsets_are_checked_against_the_chosen_classes():
    config = ComparisonConfig(classes=(0, 6), train_subset=20000)  # 12,000 images of 0 and 6
    TASKS["classification"].validate(config)  # fits the whole set
    with pytest.raises(ValueError, match=r"train_subset must be at most 11000 \(the "
                                         r"fashion_mnist of classes \[0, 6\] training"):
        TASKS["classification"].load(config)


@needs_fashion_mnist
def test_the_main_job_trains_alexnet_with_tricks_on_two_classes(tmp_path, capsys):
    """The Table 4 setting end to end, tiny: AlexNet small_tricks, PAS, two classes, flips and
    shifts; the options are recorded, the model has two outputs, chance is 50%."""
    out = tmp_path / "out"
    assert main(["--model", "alexnet", "--preset", "small_tricks", "--variants", "original,pas",
                 "--classes", "0,6", "--augment", "flip,translate", "--seeds", "1", "--epochs",
                 "1", "--train-subset", "64", "--val-subset", "40", "--test-subset", "40",
                 "--batch-size", "32", "--gate-images", "2", "--target-stride", "none",
                 "--verbose", "0", "--output", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert (results["config"]["classes"], results["config"]["augment"]) == (
        [0, 6], ["flip", "translate"])
    assert results["config"]["preset"] == "small_tricks"
    original, pas = results["runs"]
    assert original["params"] == 1_141_578 - 5130 + 1026  # a 2-class top (512 * 2 + 2)
    assert pas["params"] > original["params"]  # the gate's convs
    model = keras.models.load_model(out / "runs" / "pas_seed0.keras")
    assert model.output_shape == (None, 2) and "pool2" in [layer.name for layer in model.layers]
    with pytest.raises(SystemExit):
        main(["--classes", "0,x"])
    assert "--classes: must be comma-separated integers, got '0,x'" in capsys.readouterr().err
