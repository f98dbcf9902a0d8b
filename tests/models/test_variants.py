"""Every builder x downsampling variant builds, runs, trains one step, round-trips and exports.

Small inputs / narrow widths keep this fast. VGG11/VGG16/ResNet-50 are built at full width, so
their variants are checked headless (build, forward, train step); small_vgg and resnet18 go
through the same builder functions and cover the save path. Every variant of the others
round-trips through ``.keras``. Exporting traces the whole graph
(seconds to tens of seconds per model), so four exports cover the four new kinds of layer and
output: PAS (small_vgg), CAS at a pooling site (unet), SPD-Conv (alexnet) and CAS with dict
outputs (yolox_s).
"""

import json

import numpy as np
import pytest

import keras

from backend_neutral import predict, to_numpy, value_and_gradients
from keras_adastride import CAS, PAS, SpaceToDepthConv, models

#: builder -> (small keyword arguments, variants)
CASES = {
    "small_vgg": (dict(input_shape=(28, 28, 1), num_classes=4), ("original", "cas", "pas", "spd")),
    "alexnet": (dict(input_shape=(28, 28, 1), num_classes=4), ("original", "cas", "pas", "spd")),
    "vgg11": (dict(input_shape=(32, 32, 3), include_top=False, pooling="avg"),
              ("original", "cas", "pas", "spd")),
    "vgg16": (dict(input_shape=(32, 32, 3), include_top=False, pooling="avg"),
              ("original", "cas", "pas", "spd")),
    "mobilenet": (dict(input_shape=(32, 32, 3), num_classes=4, alpha=0.25),
                  ("original", "cas", "spd")),
    "resnet18": (dict(input_shape=(32, 32, 3), num_classes=4), ("original", "cas", "pas", "spd")),
    "resnet50": (dict(input_shape=(32, 32, 3), include_top=False, pooling="avg"),
                 ("original", "cas", "pas", "spd")),
    "unet": (dict(input_shape=(32, 32, 1), num_classes=3, base_filters=4),
             ("original", "cas", "pas", "spd")),
    "dilated_vgg": (dict(input_shape=(16, 16, 3), num_classes=4),
                    ("original", "strided", "cas", "spd")),
    "dilated_segnet": (dict(input_shape=(16, 16, 1), num_classes=3), ("original", "cas")),
    "yolox_s": (dict(input_shape=(64, 64, 3), num_classes=3, width=0.125),
                ("original", "cas", "spd")),
}
HEADLESS = {"vgg11", "vgg16", "resnet50"}
SAVED = set(CASES) - HEADLESS
EXPECTED_LAYER = {"cas": CAS, "pas": PAS, "spd": SpaceToDepthConv}
PARAMS = [pytest.param(name, variant, marks=[pytest.mark.full_width_model] * (name in HEADLESS))
          for name, (_, variants) in CASES.items() for variant in variants]


def build(name, variant):
    kwargs, _ = CASES[name]
    return getattr(models, name)(downsampling=variant, **kwargs)


def images(model, batch=2):
    return np.random.default_rng(0).random((batch, *model.input_shape[1:]), "float32")


def train_step(model, x):
    """One SGD step on the outputs' mean square (training mode, so BN and dropout train);
    returns the largest weight change. Eager on TensorFlow and torch (tracing a whole model for
    ``fit`` costs more than everything else in this file), one ``jax.jit`` on JAX
    (``value_and_gradients``: one compile instead of one per op)."""
    before = [to_numpy(w) for w in model.trainable_weights]

    def loss_fn():
        outputs = keras.tree.flatten(model(x, training=True))
        return (sum(keras.ops.mean(keras.ops.square(o)) for o in outputs)
                + sum(model.losses))

    loss, gradients = value_and_gradients(loss_fn, model.trainable_weights)
    assert np.isfinite(loss)
    assert all(g is not None for g in gradients)
    keras.optimizers.SGD(0.1).apply([keras.ops.convert_to_tensor(g) for g in gradients],
                                    model.trainable_weights)
    return max(float(np.max(np.abs(to_numpy(w) - b)))
               for w, b in zip(model.trainable_weights, before))


@pytest.mark.parametrize("name, variant", PARAMS)
def test_variant_builds_runs_trains_and_round_trips(name, variant, tmp_path):
    model = build(name, variant)
    assert model.input.name == "images"
    if variant in EXPECTED_LAYER:  # the variant really placed its layer
        assert any(isinstance(layer, EXPECTED_LAYER[variant]) for layer in model.layers)
    x = images(model)
    before = predict(model, x)
    assert all(np.all(np.isfinite(o)) for o in before)
    if name in SAVED:
        path = tmp_path / "model.keras"
        model.save(path)
        assert_same_model(keras.models.load_model(path), model, x, before)
    assert train_step(model, x) > 0


def assert_same_model(restored, model, x, outputs):
    """``restored`` computes ``model``'s function: its outputs on ``x`` equal ``outputs``. On
    JAX, where predicting with the restored model would have XLA compile the whole model again
    (a third of this file's time there), equivalently: the same configuration (every layer, its
    arguments and its connections; JSON-normalised, as the file stores it) and the same weights
    at the same paths; TensorFlow and torch compare the outputs themselves."""
    if keras.backend.backend() != "jax":
        for a, b in zip(outputs, predict(restored, x)):
            np.testing.assert_array_equal(a, b)
        return
    assert json.loads(json.dumps(restored.get_config())) == json.loads(json.dumps(
        model.get_config()))
    assert [w.path for w in restored.weights] == [w.path for w in model.weights]
    for a, b in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("name, variant", [("small_vgg", "pas"), ("unet", "cas"),
                                           ("alexnet", "spd"), ("yolox_s", "cas")])
def test_variant_exports(name, variant, tmp_path):
    import tensorflow as tf

    model = build(name, variant)
    x = images(model)
    expected = predict(model, x)
    model.export(str(tmp_path / "export"), verbose=False)
    serving = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    assert list(serving.structured_input_signature[1]) == ["images"]
    served = serving(images=tf.constant(x))
    got = [served[key].numpy() for key in sorted(served)]
    if isinstance(model.output, dict):  # yolox: the signature keys are the level names
        assert sorted(served) == sorted(model.output)
        expected = [to_numpy(model(x)[key]) for key in sorted(served)]
    for a, b in zip(expected, got):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["small_vgg", "mobilenet", "unet", "yolox_s"])
def test_outputs_are_float32_under_mixed_precision(name):
    keras.mixed_precision.set_global_policy("mixed_float16")  # conftest restores float32
    model = build(name, "cas")
    outputs = predict(model, images(model))
    assert all(keras.backend.standardize_dtype(o.dtype) == "float32" for o in outputs)
    assert all(np.all(np.isfinite(o)) for o in outputs)


def test_output_names():
    for name, output in [("small_vgg", "predictions"), ("unet", "segmentation"),
                         ("dilated_segnet", "segmentation"),
                         ("mobilenet", "predictions"), ("dilated_vgg", "predictions")]:
        model = build(name, "original")
        assert model.get_layer(output).output is model.output
    assert sorted(build("yolox_s", "original").output) == ["p3", "p4", "p5"]
