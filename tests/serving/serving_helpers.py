"""Helpers of the serving tests: a small inline model with every layer kind, the saved_models/
entries, and readers of TF Serving signatures and recorded outputs."""

import os
import pathlib
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from keras_adastride import CAS, PAS, SpaceToDepthConv

REPO = pathlib.Path(__file__).resolve().parents[2]
#: the committed folder; SAVED_MODELS_DIR points the tests at a freshly regenerated one instead
SAVED_MODELS = pathlib.Path(os.environ.get("SAVED_MODELS_DIR", REPO / "saved_models"))


def small_classifier(gate_jit_compile="auto"):
    """28x28x1 -> 10 logits through CAS, PAS and SpaceToDepthConv (random, untrained)."""
    image = keras.Input((28, 28, 1), name="image")
    x = CAS(6, 3, strides=2, padding="same", gate_init="random",
            gate_jit_compile=gate_jit_compile)(image)
    x = PAS(pool_mode="avg_max_add", gate_init="random")(x)
    x = SpaceToDepthConv(8, 1, pad_to_multiple=True, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(image, logits, name="small_classifier")


@dataclass
class SavedModelEntry:
    """One exported version in saved_models/: its SavedModel folder, .keras file and the samples
    recorded at export time (``inputs.<key>``, ``outputs.<key>``, ``keras.<output>``)."""

    name: str
    version: int
    export_dir: pathlib.Path
    keras_file: pathlib.Path
    samples: dict

    def _group(self, prefix):
        return {k.split(".", 1)[1]: v for k, v in self.samples.items() if k.startswith(prefix)}

    @property
    def inputs(self):
        return self._group("inputs.")

    @property
    def outputs(self):
        return self._group("outputs.")

    @property
    def keras_outputs(self):
        return self._group("keras.")


def saved_model_entries():
    """Every version of every model that saved_models/models.config lists."""
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    config = text_format.Parse((SAVED_MODELS / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    entries = []
    for model in config.model_config_list.config:
        versions = sorted(int(p.name) for p in (SAVED_MODELS / model.name).iterdir()
                          if p.name.isdigit())
        for version in versions:
            stem = SAVED_MODELS / "records" / f"{model.name}_v{version}"
            with np.load(f"{stem}.npz") as samples:
                entries.append(SavedModelEntry(
                    model.name, version, SAVED_MODELS / model.name / str(version),
                    pathlib.Path(f"{stem}.keras"), dict(samples)))
    return entries


def signature(export_dir):
    """The ``serving_default`` concrete function of a SavedModel."""
    return tf.saved_model.load(str(export_dir)).signatures["serving_default"]


def assert_outputs_match(actual, recorded, class_axis=-1):
    """Float outputs within 1e-4 of the recorded ones; class ids equal wherever the recorded
    top-two probabilities differ by more than 1e-3 (closer calls may flip on another CPU)."""
    assert set(actual) == set(recorded)
    for name, value in actual.items():
        value = np.asarray(value)
        assert value.dtype == recorded[name].dtype, name
        assert value.shape == recorded[name].shape, name
        if name != "class_ids":
            np.testing.assert_allclose(value, recorded[name], atol=1e-4, rtol=1e-4, err_msg=name)
    if "class_ids" in recorded:
        top2 = np.sort(recorded["probabilities"], axis=class_axis)
        margin = np.take(top2, -1, axis=class_axis) - np.take(top2, -2, axis=class_axis)
        clear = margin > 1e-3
        assert clear.mean() > 0.99
        np.testing.assert_array_equal(np.asarray(actual["class_ids"])[clear],
                                      recorded["class_ids"][clear])
