"""``gate_jit_compile``: XLA for the gate where asked, never in an exported graph."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import keras
from keras_adastride import CAS, PAS, StrideGate


def xla_markers(graph_def):
    """Every XLA attribute or op in a GraphDef and its function library, as readable strings."""
    found = []

    def scan_nodes(nodes, where):
        for node in nodes:
            if "xla" in node.op.lower():
                found.append(f"{where}/{node.name}: op {node.op}")
            found.extend(f"{where}/{node.name}: attr {k}" for k in node.attr if "xla" in k.lower())

    scan_nodes(graph_def.node, "graph")
    for function in graph_def.library.function:
        name = function.signature.name
        found.extend(f"{name}: function attr {k}" for k in function.attr if "xla" in k.lower())
        scan_nodes(function.node_def, name)
    return found


def saved_model_markers(directory):
    saved_model = saved_model_pb2.SavedModel()
    with open(f"{directory}/saved_model.pb", "rb") as file:
        saved_model.ParseFromString(file.read())
    return [m for meta_graph in saved_model.meta_graphs for m in xla_markers(meta_graph.graph_def)]


def small_model(jit_compile):
    inputs = keras.Input((12, 12, 3), name="image")
    x = CAS(8, 3, strides=2, padding="same", gate_init="random", gate_jit_compile=jit_compile)(inputs)
    x = PAS(gate_init="random", gate_jit_compile=jit_compile)(x)
    outputs = keras.layers.Dense(2, name="logits")(keras.layers.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs)


def test_forced_jit_compiles_training_but_exports_stay_clean(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 12, 12, 3)).astype("float32")
    y = rng.integers(0, 2, size=8)
    model = small_model(jit_compile=True)
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    expected = model(x).numpy()  # an eager call: compiled too

    # Positive control: a training trace does carry XLA, so the scanner can see it.
    train_trace = tf.function(lambda t: model(t, training=True))
    graph = train_trace.get_concrete_function(tf.TensorSpec((None, 12, 12, 3))).graph
    assert any("_XlaMustCompile" in m for m in xla_markers(graph.as_graph_def()))
    # ... and an inference trace does not.
    serve_trace = tf.function(lambda t: model(t, training=False))
    graph = serve_trace.get_concrete_function(tf.TensorSpec((None, 12, 12, 3))).graph
    assert xla_markers(graph.as_graph_def()) == []

    model.export(str(tmp_path / "export"), verbose=False)
    tf.saved_model.save(model, str(tmp_path / "saved"))
    for directory in ("export", "saved"):
        assert saved_model_markers(tmp_path / directory) == [], directory

    loaded = tf.saved_model.load(str(tmp_path / "export"))
    np.testing.assert_allclose(loaded.serve(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    served = tf.saved_model.load(str(tmp_path / "saved")).signatures["serving_default"]
    (key,) = served.structured_input_signature[1]
    (output,) = served(**{key: tf.constant(x)}).values()
    np.testing.assert_allclose(output.numpy(), expected, rtol=1e-5, atol=1e-5)

    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert reloaded.layers[1].gate.jit_compile is True
    np.testing.assert_allclose(reloaded(x).numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="checks the CPU default")
def test_auto_is_off_without_gpu():
    for layer in (CAS(4, 3), PAS(), StrideGate(3)):
        gate = getattr(layer, "gate", layer)
        assert gate.jit_compile == "auto"
        assert not gate.compiles(training=True)
    assert StrideGate(3, jit_compile=True).compiles(training=True)


def test_jit_compiled_gate_matches_plain_gate():
    x = np.random.default_rng(1).normal(size=(2, 9, 10, 4)).astype("float32")
    plain = StrideGate(3, strides=2, padding="same", initialization="random", jit_compile=False)
    compiled = StrideGate(3, strides=2, padding="same", initialization="random", jit_compile=True)
    plain.build(x.shape)
    compiled.build(x.shape)
    compiled.set_weights(plain.get_weights())
    np.testing.assert_allclose(compiled(x).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_bad_jit_compile_names_argument(value):
    with pytest.raises(ValueError, match="jit_compile"):
        StrideGate(3, jit_compile=value)
