"""The tf_keras binding: same outputs and weights as Keras 3, serialization, the TF ops shim."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tf_keras

import keras_adastride
from keras_adastride import tfmot as kat

CASES = [
    ("CAS", dict(filters=6, kernel_size=3, strides=2, padding="same", activation="relu")),
    ("CAS", dict(filters=4, kernel_size=(3, 2), dilation_rate=2, gate_channels="per_channel")),
    ("CAS", dict(filters=4, kernel_size=3, groups=2, gate_activation="scaled_sigmoid")),
    ("PAS", dict(pool_mode="avg_max_concat", gate_channels="per_channel")),
    ("PAS", dict(pool_size=3, strides=2, padding="same", pool_mode="avg_max_add")),
    ("PAS", dict(pool_size=3, strides=2, padding="same", pool_mode="median")),
    ("PAS", dict(pool_size=(2, 3), padding="same", pool_mode="stochastic")),
    ("MedianPooling2D", dict(pool_size=2, strides=1, padding="same")),
    ("StochasticPooling2D", dict(pool_size=3, strides=2, seed=4)),
    ("StrideGate", dict(kernel_size=3, strides=2, channels=None, activation="softplus")),
    ("SpaceToDepth", dict(block_size=3, channel_order="focus", pad_to_multiple=True)),
    ("SpaceToDepthConv", dict(filters=5, kernel_size=3, channel_order="focus",
                              pad_to_multiple=True)),
    ("SpatialPyramidPooling", dict(pool_sizes=(3, 5), input_position="last")),
]


def _random_init(kwargs, name):
    # Random gates so that the comparison exercises every weight, not an identity gate.
    if name in ("CAS", "PAS"):
        return dict(kwargs, gate_init="random")
    if name == "StrideGate":
        return dict(kwargs, initialization="random")
    return kwargs


@pytest.mark.parametrize("name, kwargs", CASES)
def test_same_outputs_and_weights_both_ways(name, kwargs, rng):
    kwargs = _random_init(kwargs, name)
    x = rng.normal(size=(2, 13, 14, 4)).astype("float32")
    layer3 = getattr(keras_adastride, name)(**kwargs)
    layer2 = getattr(kat, name)(**kwargs)
    out3 = keras.ops.convert_to_numpy(layer3(x))
    layer2(x)
    assert [tuple(w.shape) for w in layer2.weights] == [tuple(w.shape) for w in layer3.weights]

    layer2.set_weights(layer3.get_weights())  # Keras 3 -> tf_keras
    np.testing.assert_allclose(layer2(x).numpy(), out3, atol=1e-5)

    new_weights = [rng.normal(size=w.shape).astype("float32") for w in layer2.get_weights()]
    layer2.set_weights(new_weights)
    layer3.set_weights(layer2.get_weights())  # tf_keras -> Keras 3
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer3(x)), layer2(x).numpy(), atol=1e-5
    )
    if layer2.weights:
        assert not np.allclose(layer2(x).numpy(), out3, atol=1e-3)  # the new weights mattered


@pytest.mark.parametrize("name, kwargs", CASES)
def test_config_round_trip_and_registration(name, kwargs):
    cls = getattr(kat, name)
    layer = cls(**kwargs)
    clone = cls.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    assert tf_keras.saving.get_registered_object(f"keras_adastride>{name}") is cls
    # The Keras 3 registry keeps its own class under the same name.
    assert keras.saving.get_registered_object(f"keras_adastride>{name}") is getattr(
        keras_adastride, name
    )


def test_model_saves_and_loads(tmp_path, rng):
    inputs = tf_keras.Input((16, 16, 3))
    x = kat.CAS(8, 3, padding="same", gate_init="random", prune_gate=False)(inputs)
    x = kat.PAS(gate_init="random")(x)
    x = kat.SpaceToDepthConv(4, 1)(x)
    model = tf_keras.Model(inputs, kat.SpaceToDepth()(x))
    data = rng.normal(size=(2, 16, 16, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = tf_keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded(data).numpy(), model(data).numpy())
    assert loaded.layers[1].prune_gate is False


def test_unknown_spatial_size_and_padding(rng):
    # ops.shape / ops.pad of the shim with dimensions only known at run time.
    inputs = tf_keras.Input((None, None, 2))
    outputs = kat.SpaceToDepth(pad_to_multiple=True)(kat.CAS(3, 3, gate_init="random")(inputs))
    model = tf_keras.Model(inputs, outputs)
    assert model(rng.normal(size=(1, 9, 10, 2)).astype("float32")).shape == (1, 4, 4, 12)


def test_channels_first_gate_and_space_to_depth(rng):
    # The shim's conv transposes around NHWC for channels_first (CPU kernels are NHWC only).
    x = rng.normal(size=(2, 3, 8, 10)).astype("float32")
    for name, kwargs in [
        ("StrideGate", dict(kernel_size=3, initialization="random", data_format="channels_first")),
        ("SpaceToDepth", dict(data_format="channels_first")),
    ]:
        layer3 = getattr(keras_adastride, name)(**kwargs)
        layer2 = getattr(kat, name)(**kwargs)
        out3 = keras.ops.convert_to_numpy(layer3(x))
        layer2(x)
        layer2.set_weights(layer3.get_weights())
        np.testing.assert_allclose(layer2(x).numpy(), out3, atol=1e-5)


def test_effective_stride_and_target_stride_loss(rng):
    layer = kat.CAS(4, 3, strides=2, gate_init="random", target_stride=2)
    x = rng.normal(size=(2, 12, 12, 3)).astype("float32")
    layer(x)
    assert len(layer.losses) == 1 and float(layer.losses[0]) >= 0
    gate = layer.gate_map(x).numpy()
    kept = np.mean(gate > 0)
    assert 0 < kept < 1
    assert layer.effective_stride(x) == pytest.approx(2 / np.sqrt(kept))


def test_prune_gate_is_validated():
    with pytest.raises(ValueError, match="prune_gate"):
        kat.CAS(4, 3, prune_gate="no")


def test_importing_keras_adastride_leaves_tf_keras_and_tfmot_alone():
    code = (
        "import sys, keras_adastride, keras_adastride.layers;"
        "bad = {'tf_keras', 'tensorflow_model_optimization'} & set(sys.modules);"
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    # A fresh process: importing TFMOT here set TF_USE_LEGACY_KERAS=1, which would be inherited.
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_random_gate_kernels_differ():
    # tf_keras's unseeded initializers repeat their values: each kernel needs its own.
    gate = kat.StrideGate(3, depth=4, initialization="random")
    gate.build((None, 8, 8, 2))
    assert not np.allclose(gate.kernels[1].numpy(), gate.kernels[2].numpy())


def test_mixed_float16(rng):
    tf_keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        layers = [kat.CAS(4, 3, gate_activation="scaled_sigmoid"), kat.PAS(),
                  kat.SpaceToDepthConv(3, 1)]
        x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
        for layer in layers:
            assert layer(x).dtype == "float16"
            assert all(w.dtype == "float32" for w in layer.weights)
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name, kwargs", [  # sparse PAS: the max / average pool modes
    case for case in CASES if case[0] == "CAS"
    or (case[0] == "PAS" and case[1]["pool_mode"] not in ("median", "stochastic"))])
def test_sparse_execution_equals_keras3_dense(name, kwargs, rng):
    """tf_keras runs the same sparse path: its sparse output is the Keras 3 dense output."""
    kwargs = _random_init(kwargs, name)
    x = rng.normal(size=(2, 13, 14, 4)).astype("float32")
    x[:, :7] *= 0.0  # zeros keep the gate's ReLU at 0 on the upper tiles (its biases are 0)
    dense = getattr(keras_adastride, name)(**kwargs)
    sparse = getattr(kat, name)(**kwargs, sparse_inference=True, sparse_block_size=3)
    expected = keras.ops.convert_to_numpy(dense(x))
    sparse(x)
    sparse.set_weights(dense.get_weights())
    got = sparse(x, training=False).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    assert sparse.get_config()["sparse_inference"] is True


def test_window_pool_modes_with_unknown_sizes_and_seeded_draws(rng):
    # pool_windows' run-time 'same' padding through the shim; tf_keras's seeded generator.
    x = np.abs(rng.normal(size=(2, 9, 7, 3))).astype("float32")
    inputs = tf_keras.Input((None, None, 3))
    for mode in ("median", "stochastic"):
        model = tf_keras.Model(inputs, kat.PAS(3, 2, padding="same", pool_mode=mode)(inputs))
        expected = keras_adastride.PAS(3, 2, padding="same", pool_mode=mode)(x)
        np.testing.assert_allclose(model(x).numpy(), keras.ops.convert_to_numpy(expected),
                                   rtol=1e-6)

    def draw(seed):
        tf_keras.utils.set_random_seed(seed)
        return kat.StochasticPooling2D()(x, training=True).numpy()

    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))
