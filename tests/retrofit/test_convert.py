"""keras_adastride.convert against the unconverted model: outputs, weights, names, layer count.

keras.applications networks are built once per module at 32x32 (their minimum) with random
weights; their BatchNormalization statistics are first set from a batch (``calibrate``) so the
activations stay of order 1 through 50+ layers: with the initial statistics they shrink to
1e-19 (MobileNet) or grow to 1e2, and a 1e-5 comparison would say nothing.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras

from keras_adastride import CAS, PAS, AveragingKernel, SpaceToDepthConv, convert, models
from keras_adastride.retrofit import Site
from keras_adastride.serving import export_model

TOLERANCE = 1e-5
SIZE = 32


def images(shape, batch=4, seed=0):
    return np.random.default_rng(seed).random((batch, *shape), "float32")


def calibrate(model, x):
    """Set every BatchNormalization's moving statistics to its batch statistics on ``x``."""
    norms = [layer for layer in model._flatten_layers()
             if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    model(x, training=True)
    for layer in norms:
        layer.momentum = 0.99
    return model


def max_difference(reference, model, x):
    """Largest absolute difference of ``model(x)`` from ``reference`` (an array or a model)."""
    expected = reference if isinstance(reference, np.ndarray) else np.asarray(reference(x))
    return float(np.max(np.abs(np.asarray(model(x)) - expected)))


#: the paper's CAS placements in the two networks our builders also build (the sites of
#: models.mobilenet / models.resnet50 with downsampling="cas", compared in a test below)
BUILDER_SITES = {"resnet50": {"conv1_conv", "conv4_block1_2_conv"}}


#: name -> (constructor, width arguments: the narrowest keras.applications offers, for speed)
APPLICATIONS = {
    "VGG16": (keras.applications.VGG16, {}),
    "ResNet50": (keras.applications.ResNet50, {}),
    "MobileNet": (keras.applications.MobileNet, dict(alpha=0.25)),
    "MobileNetV2": (keras.applications.MobileNetV2, dict(alpha=0.35)),
    "EfficientNetB0": (keras.applications.EfficientNetB0, {}),
}


@pytest.fixture(scope="module")
def application():
    """``application(name)``: keras.applications ``name`` at 32x32, headless, calibrated, and a
    batch; each built once for this module and released after it."""
    built = {}

    def get(name):
        if name not in built:
            keras.utils.set_random_seed(0)
            constructor, width = APPLICATIONS[name]
            model = constructor(weights=None, input_shape=(SIZE, SIZE, 3), include_top=False,
                                pooling="avg", **width)
            x = images((SIZE, SIZE, 3), batch=8) * 255.0
            built[name] = calibrate(model, x), x
        return built[name]

    yield get
    built.clear()
    keras.backend.clear_session()


def assert_same_but_replaced(original, converted, replaced_class):
    """Names (input layers included), order and count of layers equal; kept layers have equal
    weights and classes; returns the names of the replaced layers."""
    assert converted.name == original.name
    assert [layer.name for layer in converted.layers] == [layer.name for layer in original.layers]
    replaced = []
    for old, new in zip(original.layers, converted.layers):
        assert new is not old
        if type(new) is type(old):
            for a, b in zip(old.get_weights(), new.get_weights()):
                np.testing.assert_array_equal(a, b)
        else:
            assert isinstance(new, replaced_class)
            replaced.append(new.name)
    return replaced


@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_applications_start_exactly_as_the_original(application, name):
    model, x = application(name)
    before = [np.array(w) for w in model.weights]
    expected = np.asarray(model(x))
    assert 0.05 < np.max(np.abs(expected)) < 1e4  # calibrated: a meaningful comparison
    sites = convert(model, "cas", dry_run=True)
    converted = convert(model, "cas")
    replaced = assert_same_but_replaced(model, converted, CAS)
    assert len(replaced) == 2
    assert replaced == [s.name for s in sites if s.replaced]
    assert set(replaced) == BUILDER_SITES.get(model.name, set(replaced))
    assert all(s.exact for s in sites if s.replaced)
    assert max_difference(expected, converted, x) <= TOLERANCE
    # the input model is untouched
    for a, b in zip(before, model.weights):
        np.testing.assert_array_equal(a, np.asarray(b))
    np.testing.assert_array_equal(np.asarray(model(x)), expected)
    if model.name == "vgg16":  # PAS at the second max pooling
        pas = convert(model, "pas")
        assert assert_same_but_replaced(model, pas, PAS) == ["block2_pool"]
        assert max_difference(expected, pas, x) <= TOLERANCE


def test_the_comparison_can_fail(application):
    """A gate that does not start as the identity changes the output far beyond the tolerance."""
    model, x = application("VGG16")
    converted = convert(model, "cas", gate_options=dict(gate_init="random"))
    assert max_difference(model, converted, x) > 100 * TOLERANCE


def test_paper_placements_match_the_builders():
    """convert's rule picks the sites the builders' paper variant uses (MobileNet here; ResNet-50
    in the keras.applications test through BUILDER_SITES)."""
    kwargs = dict(input_shape=(SIZE, SIZE, 3), alpha=0.25, num_classes=4)
    paper = models.mobilenet(downsampling="cas", **kwargs)
    expected = {layer.name for layer in paper.layers if isinstance(layer, CAS)}
    assert expected == {"conv1", "conv_dw_7"}
    original = models.mobilenet(**kwargs)
    assert {s.name for s in convert(original, "cas", dry_run=True) if s.replaced} == expected
    resnet = models.resnet50(downsampling="cas", include_top=False, input_shape=(SIZE, SIZE, 3))
    assert {layer.name for layer in resnet.layers if isinstance(layer, CAS)} == BUILDER_SITES[
        "resnet50"]


def test_builder_and_sequential_models_convert_exactly():
    small = models.small_vgg(input_shape=(28, 28, 1), num_classes=4)
    x = images((28, 28, 1))
    convs = lambda layer: isinstance(layer, keras.layers.Conv2D)  # noqa: E731
    for to, placements, layer_class in [("cas", convs, CAS), ("pas", "all", PAS)]:
        converted = convert(small, to, placements=placements)
        assert assert_same_but_replaced(small, converted, layer_class)
        assert max_difference(small, converted, x) <= TOLERANCE
    sequential = keras.Sequential([
        keras.Input((16, 16, 3)),
        keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="c1"),
        keras.layers.AveragePooling2D(2, name="p1"),
        keras.layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", name="dw"),
        keras.layers.Flatten(),
        keras.layers.Dense(3, name="out"),
    ], name="seq")
    x = images((16, 16, 3))
    converted = convert(sequential, "cas", placements="all")
    assert isinstance(converted, keras.Sequential)
    # the average pooling becomes a CAS starting as that pooling: exact too
    assert assert_same_but_replaced(sequential, converted, CAS) == ["c1", "p1", "dw"]
    assert max_difference(sequential, converted, x) <= TOLERANCE


def test_spd_conv_sites_start_exactly():
    """SPD-Conv holding the strided conv's taps: exact for valid and same padding, kernels 1..7,
    strides 2 and 3, channels_last and channels_first."""
    for data_format in ("channels_last", "channels_first"):
        shape = (3, 24, 24) if data_format == "channels_first" else (24, 24, 3)
        inputs = keras.Input(shape)
        branches = []
        for i, (kernel, stride, padding) in enumerate(
                [(3, 2, "same"), (7, 2, "valid"), (1, 2, "valid"), (5, 2, "same"), (4, 2, "same"),
                 (3, 3, "same"), (3, 2, "valid"), ((3, 5), 2, "same")]):
            x = keras.layers.Conv2D(4, kernel, strides=stride, padding=padding,
                                    data_format=data_format, name=f"conv{i}")(inputs)
            branches.append(keras.layers.Flatten()(x))
        model = keras.Model(inputs, keras.layers.Concatenate()(branches))
        converted = convert(model, "spd")
        assert assert_same_but_replaced(model, converted, SpaceToDepthConv) == [
            f"conv{i}" for i in range(8)]
        x = images(shape)
        assert max_difference(model, converted, x) <= TOLERANCE


def test_spd_pool_sites_start_as_average_pooling(application):
    model, x = application("VGG16")
    sites = convert(model, "spd", dry_run=True)
    assert [s.name for s in sites if s.replaced] == [f"block{b}_pool" for b in range(1, 6)]
    assert not any(s.exact for s in sites if s.replaced)  # max pooling: cannot start exact
    converted = convert(model, "spd")
    layer = converted.get_layer("block1_pool")
    kernel = np.asarray(layer.conv.kernel)
    np.testing.assert_array_equal(kernel, np.asarray(AveragingKernel()(kernel.shape)))
    assert max_difference(model, converted, x) > 100 * TOLERANCE


def test_resnet50_spd_keeps_what_would_change_a_shape(application):
    """ResNet-50's strided convs become SPD-Convs that compute what they computed; its 3x3
    stride-2 max pooling would change the map size (9x9 for 8x8) and is kept.

    Compared layer by layer (each SPD-Conv on the input its conv had): the two differ by float
    rounding (~1e-7 relative), which the calibrated statistics of the 1x1 last stage, estimated
    from 8 images, amplify to ~1e-3 at the output."""
    model, x = application("ResNet50")
    sites = {s.name: s for s in convert(model, "spd", dry_run=True)}
    assert not sites["pool1_pool"].replaced
    assert "output shape (None, 9, 9, 64)" in sites["pool1_pool"].reason
    replaced = [name for name, s in sites.items() if s.replaced]
    assert len(replaced) == 7 and all(sites[n].exact for n in replaced)
    converted = convert(model, "spd")
    features = keras.Model(model.input, [model.get_layer(n).input for n in replaced])(x)
    for name, inputs in zip(replaced, features):
        new, old = converted.get_layer(name), model.get_layer(name)
        assert isinstance(new, SpaceToDepthConv)
        expected = np.asarray(old(inputs))
        difference = np.max(np.abs(np.asarray(new(inputs)) - expected))
        assert difference <= TOLERANCE * max(1.0, np.max(np.abs(expected))), name


def test_nested_and_shared_layers():
    inner_in = keras.Input((16, 16, 3))
    inner = keras.Model(inner_in, keras.layers.Conv2D(4, 3, strides=2, name="down")(inner_in),
                        name="inner")
    inputs = keras.Input((16, 16, 3), name="images")
    shared = keras.layers.Conv2D(3, 3, padding="same", name="shared")
    x = shared(shared(inputs))
    y = inner(x)
    outputs = keras.layers.GlobalAveragePooling2D(name="gap")(y)
    model = keras.Model(inputs, outputs, name="outer")
    converted = convert(model, "cas", placements=["shared", "inner/down"])
    x = images((16, 16, 3))
    assert max_difference(model, converted, x) <= TOLERANCE
    new_shared = converted.get_layer("shared")
    assert isinstance(new_shared, CAS) and len(new_shared._inbound_nodes) == 2  # still shared
    assert isinstance(converted.get_layer("inner").get_layer("down"), CAS)
    assert [s.name for s in convert(model, "cas", placements="all", dry_run=True)] == [
        "shared", "inner/down"]


class _Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(4, 3, strides=2)

    def call(self, x):
        return self.conv(x)


def test_models_and_layers_it_cannot_convert():
    subclassed = _Subclassed(name="mine")
    subclassed(images((8, 8, 3)))
    with pytest.raises(ValueError, match="_Subclassed 'mine'.*no layer graph"):
        convert(subclassed, "cas")
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, strides=2, depthwise_constraint="non_neg",
                                     name="dw")(inputs)
    x = _Subclassed(name="held")(x)
    x = keras.layers.Conv2D(2, 1, strides=1, name="plain")(x)
    model = keras.Model(inputs, x)
    sites = {s.name: s for s in convert(model, "cas", placements="all", dry_run=True)}
    assert not sites["dw"].replaced and "depthwise_constraint" in sites["dw"].reason
    assert not sites["held"].replaced and "not descended into" in sites["held"].reason
    assert sites["plain"].replaced
    with pytest.raises(ValueError, match="'dw'.*depthwise_constraint"):
        convert(model, "cas", placements=["dw"])
    with pytest.raises(ValueError, match="'held'"):
        convert(model, "cas", placements=["held"])
    with pytest.raises(ValueError, match="'nope' is not a layer"):
        convert(model, "cas", placements=["nope"])
    with pytest.raises(ValueError, match="'plain' .*is not a layer to='pas' replaces"):
        convert(model, "pas", placements=["plain"])
    with pytest.raises(ValueError, match="nothing to replace"):
        convert(model, "pas")


@pytest.mark.parametrize("kwargs, match", [
    (dict(to="conv"), "`to` must be one of"),
    (dict(placements=3), "`placements` must be None"),
    (dict(placements="c1"), "`placements` must be None"),
    (dict(gate_options=dict(width=4)), "unknown keys \\['width'\\]"),
    (dict(to="spd", gate_options=dict(gate_width=4)), "no gate"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    model = keras.Sequential([keras.Input((8, 8, 3)),
                              keras.layers.Conv2D(2, 3, strides=2, name="c1")])
    with pytest.raises(ValueError, match=match):
        convert(model, **kwargs)


def test_callable_placements_and_dry_run_entries():
    model = models.small_vgg(input_shape=(28, 28, 1), num_classes=4)
    sites = convert(model, "cas", placements=lambda layer: layer.name.endswith("pool"),
                    dry_run=True)
    assert all(isinstance(s, Site) for s in sites)
    assert {s.name for s in sites if s.replaced} == {
        layer.name for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)}
    assert all(str(s).startswith(s.name) for s in sites)


def test_keras_hub_backbone():
    """A keras-hub backbone (a Functional subclass) converts to a functional keras.Model with the
    same layers; the keras-hub class itself is not kept (docs/convert.md)."""
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.VGGBackbone(stackwise_num_repeats=[1, 2],
                                            stackwise_num_filters=[8, 16],
                                            image_shape=(SIZE, SIZE, 3))
    x = images((SIZE, SIZE, 3))
    for to, layer_class, count in [("cas", CAS, 2), ("pas", PAS, 1)]:
        converted = convert(backbone, to)
        assert type(converted) is keras.Model or type(converted).__name__ == "Functional"
        assert len(assert_same_but_replaced(backbone, converted, layer_class)) == count
        assert max_difference(backbone, converted, x) <= TOLERANCE


#: Fresh interpreter: the .keras file loads (keras_adastride registers its layers at import) and
#: the SavedModel serves without keras_adastride (as in TF Serving).
LOAD_IN_FRESH_PROCESS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    saved_model, keras_file, folder = sys.argv[1:]
    serve = tf.saved_model.load(saved_model).signatures["serving_default"]
    x = np.load(folder + "/x.npy")
    served = serve(images=tf.constant(x))["predictions"].numpy()
    assert "keras_adastride" not in sys.modules
    import keras
    import keras_adastride  # noqa: F401
    loaded = keras.models.load_model(keras_file)
    np.savez(folder + "/out.npz", served=served, loaded=np.asarray(loaded(x)),
             classes=[type(layer).__name__ for layer in loaded.layers])
    """
)


def test_converted_model_trains_saves_and_exports(tmp_path):
    inputs = keras.Input((16, 16, 3), name="images")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="user_model")
    # two conversions in a row: a converted model converts again
    converted = convert(convert(model, "cas", placements=["stem", "dw"]), "pas")
    assert [type(converted.get_layer(n)).__name__ for n in ("stem", "dw", "pool")] == [
        "CAS", "CAS", "PAS"]
    x = images((16, 16, 3), batch=16)
    assert max_difference(model, converted, x) <= TOLERANCE
    gates = [np.array(w) for w in converted.get_layer("stem").gate.weights]
    converted.compile("adam", "sparse_categorical_crossentropy")
    history = converted.fit(x, np.arange(16) % 3, batch_size=8, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert any(np.any(a != np.asarray(b))
               for a, b in zip(gates, converted.get_layer("stem").gate.weights))  # gates learn
    converted.save(tmp_path / "converted.keras")
    export_dir = export_model(converted, tmp_path / "serving", "converted", version=1)
    np.save(tmp_path / "x.npy", x)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", LOAD_IN_FRESH_PROCESS, export_dir,
         str(tmp_path / "converted.keras"), str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = np.load(tmp_path / "out.npz")
    expected = np.asarray(converted(x))
    np.testing.assert_allclose(out["served"], expected, atol=TOLERANCE, rtol=0)
    np.testing.assert_array_equal(out["loaded"], expected)
    assert list(out["classes"]) == [type(layer).__name__ for layer in converted.layers]
