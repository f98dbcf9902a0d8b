"""Every classifier builder trains in the classification task: images brought to the builder's
minimum in the data pipeline, ``width`` / ``preset`` / ``placements`` and the gate options
reaching the built layers, bad values refused before any training."""

import os

import numpy as np
import pytest

import keras

from keras_adastride import CAS, PAS, models
from keras_adastride.data import fit_images
from keras_adastride.data.fashion_mnist import DEBIAN_DIR, FILES
from keras_adastride.experiments.config import ComparisonConfig
from keras_adastride.experiments.tasks import TASKS
from keras_adastride.experiments.tasks.classification import (ALEXNET_MIN_INPUT_SIZE,
                                                              MIN_INPUT_SIZE, fitted_shape)
from keras_adastride.experiments.train import adaptive_layers, build_model

needs_fashion_mnist = pytest.mark.skipif(
    not all(os.path.isfile(os.path.join(DEBIAN_DIR, f)) for f in FILES),
    reason="apt-get install dataset-fashion-mnist",
)
TASK = TASKS["classification"]
TINY = dict(epochs=1, seeds=1, batch_size=24, train_subset=48, val_subset=16, test_subset=16,
            gate_images=2, verbose=0, target_stride=None)


def test_fit_images_pads_centred_or_resizes():
    images = np.random.default_rng(0).random((3, 28, 28, 1), "float32")
    padded = fit_images(images, 32, "pad")
    assert padded.shape == (3, 32, 32, 1)
    np.testing.assert_array_equal(padded[:, 2:30, 2:30], images)
    assert padded.sum() == pytest.approx(images.sum())  # nothing but zeros added
    resized = fit_images(images, 63, "bilinear")
    assert resized.shape == (3, 63, 63, 1) and resized.dtype == np.float32
    reference = keras.ops.convert_to_numpy(keras.ops.image.resize(images, (63, 63)))
    np.testing.assert_allclose(resized, reference, atol=1e-6)
    assert fit_images(images, 28, "pad") is images
    with pytest.raises(ValueError, match="cannot shrink 28x28 images; received size=20"):
        fit_images(images, 20, "pad")
    with pytest.raises(ValueError, match="method='nearest'"):
        fit_images(images, 32, "nearest")


@pytest.mark.parametrize("model, preset", [*[(m, None) for m in MIN_INPUT_SIZE],
                                           ("alexnet", "small"), ("alexnet", "small_tricks"),
                                           ("alexnet", "torchvision")])
def test_the_minimum_input_table_is_the_builders(model, preset):
    """Each builder refuses one pixel less than the table's minimum; it builds at the minimum
    (here for the small ones; the 32x32 and 95x95 ones train at it below)."""
    minimum = ALEXNET_MIN_INPUT_SIZE[preset] if preset else MIN_INPUT_SIZE[model]
    options = {"alpha": 0.0625, **({"preset": preset} if preset else {})}
    if minimum < 32:
        build_model(model, "original", (minimum, minimum, 1), 10, builder_options=options)
    if minimum > 1:
        with pytest.raises(ValueError, match=f">= {minimum}"):
            build_model(model, "original", (minimum - 1, minimum - 1, 1), 10,
                        builder_options=options)
    keras.backend.clear_session()


def test_images_are_brought_to_the_builders_minimum_unless_told():
    shape = (28, 28, 1)
    assert fitted_shape(ComparisonConfig(model="vgg16"), shape) == (32, 32, 1)
    assert fitted_shape(ComparisonConfig(model="small_vgg"), shape) == shape
    assert fitted_shape(ComparisonConfig(model="alexnet"), shape) == shape
    assert fitted_shape(ComparisonConfig(model="alexnet", preset="torchvision"), shape) == (
        95, 95, 1)
    assert fitted_shape(ComparisonConfig(model="small_vgg", input_size=40), shape) == (40, 40, 1)


def _widths(model):
    return [layer.filters for layer in model.layers if hasattr(layer, "filters")]


@pytest.mark.parametrize("model", ["small_vgg", "vgg11", "alexnet", "resnet18", "dilated_vgg"])
def test_width_scales_every_layer_of_the_builder(model):
    full = getattr(models, model)(input_shape=(32, 32, 3), num_classes=10)
    quarter = getattr(models, model)(input_shape=(32, 32, 3), num_classes=10, alpha=0.25)
    assert _widths(quarter) == [max(1, int(w * 0.25)) for w in _widths(full)]
    assert quarter.count_params() < full.count_params() / 8


GATES = dict(gate_init="random", gate_activation="sigmoid", gate_width=5, gate_depth=2)


@pytest.mark.parametrize("model, variant, placements", [
    ("small_vgg", "cas", ("block1_conv1", "block3_conv1")),
    ("small_vgg", "pas", ("all",)),
    ("mobilenet", "cas", None),
    ("dilated_vgg", "cas", ("conv2",)),
])
def test_gate_options_and_placements_reach_every_adaptive_layer(model, variant, placements):
    config = ComparisonConfig(model=model, variants=("original", variant), width=0.25,
                              placements=placements, target_stride=3.0, **GATES)
    built = build_model(model, variant, fitted_shape(config, (28, 28, 1)), 10,
                        gate_options=config.gate_options(),
                        builder_options=config.builder_options())
    layers = adaptive_layers(built)
    assert layers and all(isinstance(layer, (CAS, PAS)) for layer in layers)
    if placements not in (None, ("all",)):
        assert sorted(layer.name for layer in layers) == sorted(placements)
    if placements == ("all",):
        assert len(layers) == 3  # every pool of small_vgg
    for layer in layers:
        layer_config = layer.get_config()
        assert {name: layer_config[name] for name in GATES} == GATES
        assert layer_config["target_stride"] == 3.0
        assert layer.gate.width == 5 and len(layer.gate.kernels) == 2
    original = build_model(model, "original", fitted_shape(config, (28, 28, 1)), 10,
                           gate_options=config.gate_options(),
                           builder_options=config.builder_options())
    assert not adaptive_layers(original)
    keras.backend.clear_session()


@pytest.mark.parametrize("convert", [False, True])
def test_kernel_init_he_normal_redraws_the_built_kernels(convert):
    # VGG11 at width 0.25 on 32x32: every conv / dense kernel with He's std sqrt(2 / fan_in);
    # "glorot_uniform" keeps the built draw, std sqrt(2 / (fan_in + fan_out)).
    stds = {}
    for kernel_init in ("glorot_uniform", "he_normal"):
        keras.utils.set_random_seed(0)
        config = ComparisonConfig(model="vgg11", width=0.25, kernel_init=kernel_init,
                                  convert=("cas",) if convert else None)
        built = build_model("vgg11", "cas", (32, 32, 1), 10, convert=convert,
                            builder_options=config.builder_options())
        stds[kernel_init] = {w.path: (float(np.std(w.numpy())), np.prod(w.shape[:-1]),
                                      np.prod(w.shape) / w.shape[-2])
                             for w in built.weights
                             if w.path.endswith("kernel") and "gate" not in w.path}
        keras.backend.clear_session()
    assert len(stds["he_normal"]) == 11  # 8 convs (one in CAS) + 3 dense
    std, fan_in, fan_out = stds["glorot_uniform"]["block2_conv1/kernel"]
    assert std == pytest.approx(np.sqrt(2 / (fan_in + fan_out)), rel=0.1)
    assert all(std == pytest.approx(np.sqrt(2 / fan_in), rel=0.3)
               for std, fan_in, _ in stds["he_normal"].values())


@pytest.mark.parametrize("changes, message", [
    ({"model": "vgg11", "input_size": 31}, r"variant 'original' for fashion_mnist images "
                                           r"\(31, 31, 1\).*>= 32"),
    ({"input_size": 20}, "input_size 20 is smaller than the fashion_mnist images"),
    ({"input_size": 224, "train_subset": None}, "more than 4 GiB"),
    ({"model": "vgg11", "width": -1.0}, "width must be > 0 or None, got -1.0"),
    ({"model": "resnet18", "preset": "small"}, "preset is an argument of the alexnet builder"),
    ({"model": "alexnet", "preset": "tiny"}, "preset='tiny'"),
    ({"placements": ("block9_pool",)}, "placements=\\['block9_pool'\\]"),
    ({"gate_init": "zeros"}, "gate_init='zeros'"),
    ({"kernel_init": "zeros"}, "kernel_init must be one of \\['glorot_uniform', 'he_normal'\\]"),
    ({"task": "segmentation", "kernel_init": "he_normal"}, "kernel_init is not an option of the "
                                                          "segmentation task"),
    ({"gate_init": "identity", "gate_activation": "sigmoid"}, "gate_activation='sigmoid'"),
    ({"gate_width": 0}, "gate_width must be an integer >= 1"),
    ({"resize": "nearest"}, "resize must be one of \\['pad', 'bilinear'\\], got 'nearest'"),
    ({"task": "segmentation", "width": 0.5}, "width is not an option of the segmentation task"),
])
def test_bad_model_or_gate_options_are_refused_before_training(changes, message):
    with pytest.raises(ValueError, match=message):
        TASK.validate(ComparisonConfig(**changes))


@pytest.fixture(scope="module")
def fashion_mnist():
    from keras_adastride.data import load_dataset

    return load_dataset("fashion_mnist")


@needs_fashion_mnist
@pytest.mark.parametrize("model, options", [
    ("vgg16", dict(width=0.0625)),
    ("alexnet", dict(width=0.125)),
    ("alexnet", dict(width=0.0625, preset="torchvision", resize="bilinear")),
    ("mobilenet", dict(width=0.25)),
    ("resnet18", dict(width=0.0625)),
    ("dilated_vgg", dict(width=0.25)),
])
def test_every_builder_trains_in_the_classification_task(model, options, fashion_mnist):
    """One tiny run per builder kind (tracing the graphs is most of its time)."""
    config = ComparisonConfig(model=model, variants=("original",), **options, **TINY)
    TASK.validate(config)
    data = TASK.split(fashion_mnist, 0, config)
    side = fitted_shape(config, (28, 28, 1))[0]
    assert data["x_train"].shape[1:] == data["x_test"].shape[1:] == (side, side, 1)
    run = TASK.train_run(model, "original", 0, data, config, config.gate_options())
    assert run.input_shape == [side, side, 1]
    assert 0 <= run.metrics["test_accuracy"] <= 1 and len(run.history["loss"]) == 1
    assert isinstance(run.failed, bool)
    keras.backend.clear_session()


def test_the_paper_table_commands_of_the_docs_parse():
    """docs/comparison.md's commands for the paper's tables stay valid main-job configurations
    (parsed and checked as values; the builders are checked above)."""
    import pathlib
    import re
    import shlex

    from keras_adastride.cli import DEFAULTS, build_parser

    text = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "comparison.md").read_text()
    block = text[text.index("## The paper's tables"):].split("```bash\n", 1)[1].split("```")[0]
    common = re.search(r'COMMON="([^"]+)"', block).group(1)
    commands = [shlex.split(line.replace("$COMMON", common))[6:] for line in block.splitlines()
                if line.startswith("nice -n 5 python -m keras_adastride ")]
    assert len(commands) == 10
    for argv in commands:
        args = build_parser().parse_args(argv)
        config = ComparisonConfig(**{name: getattr(args, name, DEFAULTS[name].default)
                                     for name in DEFAULTS})
        assert config.seeds >= 5
        if {"cas", "pas"} & set(config.variants):  # the paper's modules: no gate budget
            assert config.target_stride is None
