"""The main job with ``--convert``: variants made by keras_adastride.convert, keras.applications
models (``--model keras.applications.<Name>``)."""

import csv
import os

import numpy as np
import pytest

import keras

from keras_adastride import CAS, PAS
from keras_adastride.cli import build_parser, config_from_args, main
from keras_adastride.data.fashion_mnist import DEBIAN_DIR, FILES
from keras_adastride.experiments.train import build_model

needs_fashion_mnist = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(DEBIAN_DIR, f)) for f in FILES),
    reason="apt-get install dataset-fashion-mnist",
)


@needs_fashion_mnist
def test_tiny_run_compares_the_original_with_its_conversions(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["--convert", "cas", "--epochs", "1", "--seeds", "1", "--train-subset", "64",
                 "--val-subset", "32", "--test-subset", "64", "--batch-size", "32",
                 "--output", str(out), "--verbose", "0", "--gate-images", "2"]) == 0
    assert "| cas |" in capsys.readouterr().out
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["variant"] for r in rows] == ["original", "cas"]
    assert int(rows[1]["params"]) > int(rows[0]["params"])  # the gates


def test_applications_model_converts_for_the_main_job():
    """--model keras.applications.MobileNet --convert cas: the data padded to 32x32 inside the
    model, the converted variant starts as the original (same seed, same weights)."""
    config = config_from_args(build_parser(), ["--model", "keras.applications.MobileNet",
                                               "--convert", "cas"])
    assert config.variants == ("original", "cas")
    keras.utils.set_random_seed(3)
    original = build_model(config.model, "original", (28, 28, 1), 10, convert=True)
    keras.utils.set_random_seed(3)
    converted = build_model(config.model, "cas", (28, 28, 1), 10, convert=True)
    assert original.input.name == "images" and original.get_layer("pad_to_minimum")
    assert {layer.name for layer in converted.layers if isinstance(layer, CAS)} == {
        "conv1", "conv_dw_7"}
    x = np.random.default_rng(0).random((2, 28, 28, 1), "float32")
    np.testing.assert_allclose(np.asarray(converted(x)), np.asarray(original(x)), atol=1e-5,
                               rtol=0)
    # a builder converts too (--model small_vgg --convert pas)
    pas = build_model("small_vgg", "pas", (28, 28, 1), 10, convert=True)
    assert [layer.name for layer in pas.layers if isinstance(layer, PAS)] == ["block2_pool"]


@pytest.mark.parametrize("argv, message", [
    (["--model", "keras.applications.ResNet50"], "pass convert (command line: --convert cas)"),
    (["--convert", "cas,xyz"], "convert must be a non-empty list of ['cas', 'pas', 'spd']"),
    (["--convert", "cas", "--variants", "original,cas"], "do not pass variants"),
    (["--model", "keras.applications.Nope", "--convert", "cas"],
     "'keras.applications.Nope' is not a network of keras.applications"),
    (["--model", "dilated_vgg", "--convert", "pas"], "convert: nothing to replace"),
    (["--task", "segmentation", "--convert", "cas"], "convert is offered by the classification"),
])
def test_bad_convert_arguments_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        config_from_args(build_parser(), argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
