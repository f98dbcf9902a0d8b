"""get_config round trips and .keras save/load give identical layers and outputs."""

import numpy as np
import pytest

import keras

from backend_neutral import to_numpy
from keras_adastride import CAS, PAS, SpaceToDepth, SpaceToDepthConv, StrideGate
from layer_references import every_layer_model, random_images

LAYERS = [
    (CAS, dict(filters=4, kernel_size=3)),
    (CAS, dict(filters=6, kernel_size=(3, 2), strides=(2, 1), padding="same",
               data_format="channels_first", dilation_rate=1, groups=3, activation="relu",
               use_bias=False, kernel_initializer="he_normal", kernel_regularizer="l2",
               activity_regularizer="l1", kernel_constraint="non_neg", gate_width=4,
               gate_depth=2, gate_channels="per_channel", gate_activation="scaled_sigmoid",
               gate_init="random", gate_hidden_kernel_size=3, gate_jit_compile=False,
               target_stride=2.5, target_stride_weight=0.5, name="custom_cas")),
    (PAS, dict()),
    (PAS, dict(pool_size=3, strides=2, padding="same", data_format="channels_first",
               pool_mode="avg_max_concat", gate_channels="per_channel", gate_activation="relu6",
               gate_init="random", gate_depth=1, target_stride=2)),
    (StrideGate, dict(kernel_size=3, strides=2, padding="same", channels=None, width=3, depth=4,
                      activation="softplus", initialization="random", target_stride=1.5)),
    (SpaceToDepth, dict()),
    (SpaceToDepth, dict(block_size=3, channel_order="focus", pad_to_multiple=True,
                        data_format="channels_first")),
    (SpaceToDepthConv, dict(filters=6, kernel_size=3, block_size=3, channel_order="focus",
                            pad_to_multiple=True, padding="same", data_format="channels_first",
                            groups=3, activation="relu", use_bias=False,
                            bias_regularizer="l2")),
]


@pytest.mark.parametrize("layer_class,kwargs", LAYERS, ids=range(len(LAYERS)))
def test_get_config_round_trip(layer_class, kwargs):
    layer = layer_class(**kwargs)
    config = layer.get_config()
    clone = layer_class.from_config(config)
    assert clone.get_config() == config
    # Every explicit argument is in the config with its value (ints normalised to pairs).
    for key, value in kwargs.items():
        if isinstance(config[key], dict):  # a serialised initializer/regularizer/constraint
            assert config[key]["config"] or config[key]["class_name"]
        else:
            assert config[key] in (value, (value, value)), key
    # Serialised through Keras's own machinery too (registered class name, JSON-able config).
    rebuilt = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(rebuilt) is type(layer) and rebuilt.get_config() == config

    channels_first = config.get("data_format") == "channels_first"
    x = random_images((2, 6, 9, 9) if channels_first else (2, 9, 9, 6))
    if isinstance(layer, SpaceToDepth) and not layer.pad_to_multiple:
        x = x[..., :8, :8] if channels_first else x[:, :8, :8]
    layer.build(x.shape)
    clone.build(x.shape)
    if layer.weights:
        clone.set_weights([w + 0.1 for w in layer.get_weights()])  # differ first ...
        assert not np.allclose(to_numpy(clone(x)), to_numpy(layer(x)))
        clone.set_weights(layer.get_weights())  # ... then carry the same weights
    np.testing.assert_array_equal(to_numpy(clone(x)), to_numpy(layer(x)))


def test_config_names_gate_arguments_not_keras_mask():
    config = CAS(4, 3).get_config()
    assert not any("mask" in key for key in config)
    assert {"gate_width", "gate_depth", "gate_channels", "gate_activation", "gate_init",
            "target_stride", "target_stride_weight"} <= set(config)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_model_with_every_layer_saves_and_loads(tmp_path, data_format):
    shape = (4, 8, 8) if data_format == "channels_first" else (8, 8, 4)
    model = every_layer_model(shape, data_format)
    x = random_images((3, *shape))
    expected = model.predict(x, verbose=0)
    path = tmp_path / "every_layer.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    for original, restored in zip(model.layers, loaded.layers):
        assert type(original) is type(restored)
        assert original.get_config() == restored.get_config()
        for a, b in zip(original.get_weights(), restored.get_weights()):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), expected)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))
