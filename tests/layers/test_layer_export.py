"""model.export() of a model with every layer runs where keras_adastride cannot be imported
(as in TF Serving: graphs, not Python) and gives the in-process outputs."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import keras

from keras_adastride import CAS, SpaceToDepth, SpaceToDepthConv
from layer_references import every_layer_model, random_images

#: Run in a fresh interpreter: keras_adastride made unimportable before anything else is imported.
LOAD_AND_RUN = textwrap.dedent(
    """
    import sys
    sys.modules["keras_adastride"] = None
    try:
        import keras_adastride  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("keras_adastride was importable")
    import numpy as np
    import tensorflow as tf

    for export_dir in sys.argv[1:]:
        loaded = tf.saved_model.load(export_dir)
        x = np.load(export_dir + "/../x.npy")
        serve = loaded.signatures["serving_default"]
        (name,) = serve.structured_input_signature[1].keys()
        by_signature = {k: v.numpy() for k, v in serve(**{name: tf.constant(x)}).items()}
        np.savez(export_dir + "/../out.npz", serve=loaded.serve(tf.constant(x)).numpy(),
                 **by_signature)
    assert sys.modules["keras_adastride"] is None
    """
)


def _xla_free(export_dir):
    """No ``_XlaMustCompile`` / ``_XlaScope`` ... attribute: TF Serving without XLA rejects them."""
    return b"_Xla" not in (export_dir / "saved_model.pb").read_bytes()


def sparse_and_dense_models():
    """A model with sparse CAS and "auto" PAS, its dense twin (same weights), and images on which
    the CAS gate keeps one corner of one image (so both paths of "auto" are in the graph)."""
    from keras_adastride import PAS
    from test_sparse_execution import steer_gate

    def model(sparse_inference):
        image = keras.Input((16, 16, 4), name="image")
        x = CAS(8, 3, padding="same", sparse_inference=sparse_inference, name="cas")(image)
        x = PAS(sparse_inference=sparse_inference and "auto", gate_init="random", name="pas")(x)
        logits = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
        return keras.Model(image, logits)

    sparse, dense = model(True), model(False)
    steer_gate(sparse.get_layer("cas"))
    dense.set_weights(sparse.get_weights())
    x = random_images((3, 16, 16, 4))
    x[..., 0] = -1.0
    x[0, 2:5, 3:6, 0] = 1.0
    return sparse, dense, x


@pytest.mark.tensorflow_only
def test_exported_model_runs_without_the_package(tmp_path):
    """Every layer in both layouts, and sparse execution (whose export must answer as the dense
    model)."""
    expected, export_dirs = {}, []
    sparse, dense, x_sparse = sparse_and_dense_models()
    for data_format in ("channels_last", "channels_first", "sparse"):
        if data_format == "sparse":
            model, x = sparse, x_sparse
            np.testing.assert_allclose(model.predict(x, verbose=0), dense.predict(x, verbose=0),
                                       rtol=0, atol=1e-5)
        else:
            shape = (4, 8, 8) if data_format == "channels_first" else (8, 8, 4)
            model = every_layer_model(shape, data_format)
            x = random_images((3, *shape))
        export_dir = tmp_path / data_format / "1"
        model.export(str(export_dir), verbose=False)
        assert _xla_free(export_dir)
        np.save(tmp_path / data_format / "x.npy", x)
        expected[data_format] = (dense if data_format == "sparse" else model).predict(x, verbose=0)
        export_dirs.append(str(export_dir))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
    result = subprocess.run([sys.executable, "-c", LOAD_AND_RUN, *export_dirs], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    for data_format, reference in expected.items():
        outputs = np.load(tmp_path / data_format / "out.npz")
        assert sorted(outputs.files) == ["output_0", "serve"]
        for key in outputs.files:
            np.testing.assert_allclose(outputs[key], reference, rtol=0, atol=1e-5)


@pytest.mark.tensorflow_only
def test_grouped_convs_export_without_xla(tmp_path):
    """Keras 3's TensorFlow backend runs every grouped conv through
    tf.function(jit_compile=True); CAS and SpaceToDepthConv compute theirs per group instead."""
    inputs = keras.Input((8, 8, 4))
    plain = keras.Model(inputs, keras.layers.Conv2D(4, 3, groups=2)(inputs))
    plain.export(str(tmp_path / "plain"), verbose=False)
    assert not _xla_free(tmp_path / "plain")  # the check can fail (and Keras still needs this)
    outputs = [CAS(4, 3, groups=2)(inputs),
               SpaceToDepthConv(4, 3, groups=4, data_format="channels_last")(inputs)]
    keras.Model(inputs, outputs).export(str(tmp_path / "grouped"), verbose=False)
    assert _xla_free(tmp_path / "grouped")



@pytest.mark.tensorflow_only
def test_sparse_execution_in_a_serving_export(tmp_path):
    """keras_adastride.serving.export_model of a sparse model: no XLA, the dense model's answers."""
    from keras_adastride.serving import export_model, xla_findings

    sparse, dense, x = sparse_and_dense_models()
    served = export_model(sparse, tmp_path, "sparse")
    assert xla_findings(served) == []
    graph = (tmp_path / "sparse" / "1" / "saved_model.pb").read_bytes()
    assert b"GatherV2" in graph and b"\x12\x05Where" in graph  # the sparse path was exported
    outputs = tf.saved_model.load(served).signatures["serving_default"](image=tf.constant(x))
    (output,) = outputs.values()
    np.testing.assert_allclose(output.numpy(), dense.predict(x, verbose=0), rtol=0, atol=1e-5)


@pytest.mark.saved_model_export
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_space_to_depth_exports_with_unknown_height_and_width(tmp_path, data_format):
    """Exported for (None, None) sizes (JAX traces them as symbols), the served model matches
    the in-process one on even and, padded, odd sizes; unpadded odd sizes are refused."""
    import tensorflow as tf

    def channels(shape):
        # (..., H, W, C) -> (..., C, H, W) for channels_first
        if data_format == "channels_first":
            return (*shape[:-3], shape[-1], *shape[-3:-1])
        return shape

    inputs = keras.Input(channels((None, None, 3)))
    exact = keras.Model(inputs, SpaceToDepth(2, data_format=data_format)(inputs))
    padded = keras.Model(inputs, [
        SpaceToDepth(3, channel_order="focus", pad_to_multiple=True, data_format=data_format)(inputs),
        SpaceToDepthConv(4, 3, padding="same", pad_to_multiple=True, data_format=data_format)(inputs),
    ])
    for name, model, shapes in (("exact", exact, [(2, 6, 4, 3)]),
                                ("padded", padded, [(2, 6, 4, 3), (1, 7, 5, 3)])):
        model.export(str(tmp_path / name), verbose=False)
        loaded = tf.saved_model.load(str(tmp_path / name))  # kept: .serve needs its variables
        serve = loaded.serve
        for shape in shapes:
            x = random_images(channels(shape))
            expected = keras.tree.flatten(model.predict(x, verbose=0))
            served = keras.tree.flatten(serve(tf.constant(x)))
            for a, b in zip(expected, served):
                np.testing.assert_allclose(b.numpy(), a, rtol=0, atol=1e-5)
    loaded = tf.saved_model.load(str(tmp_path / "exact"))
    with pytest.raises(tf.errors.InvalidArgumentError):
        loaded.serve(tf.constant(random_images(channels((1, 7, 4, 3)))))
