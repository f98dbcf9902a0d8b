"""Sparse execution (``sparse_inference``) of CAS and PAS equals the dense path: every geometry,
layout, block size, odd and unknown spatial sizes, batch sizes, gates keeping no / a few / every
tile, "auto", mixed precision; it computes the kept tiles only; training runs dense; the arguments
are checked and serialised."""

import numpy as np
import pytest
import tensorflow as tf

import keras

from keras_adastride import CAS, PAS
from keras_adastride.layers import sparse_execution
from layer_references import random_images

#: (id, layer class, arguments, block size, (height, width), batch)
CASES = [
    ("cas-k3-s1-same", CAS, dict(filters=5, kernel_size=3, padding="same"), 8, (19, 23), 3),
    ("cas-k3-s2-same", CAS, dict(filters=4, kernel_size=3, strides=2, padding="same"), 4,
     (17, 16), 2),
    ("cas-k3-s2-valid", CAS, dict(filters=4, kernel_size=3, strides=2), 3, (16, 15), 2),
    ("cas-k5-s3-same", CAS, dict(filters=3, kernel_size=5, strides=3, padding="same"), 2,
     (20, 17), 2),
    ("cas-k3-d2-valid", CAS, dict(filters=4, kernel_size=3, dilation_rate=2), 5, (18, 21), 2),
    ("cas-k3x1-s2x1-same-bias-relu", CAS, dict(filters=4, kernel_size=(3, 1), strides=(2, 1),
                                               padding="same", activation="relu"), 4, (15, 13), 2),
    ("cas-groups2", CAS, dict(filters=6, kernel_size=3, padding="same", groups=2), 4, (12, 13), 2),
    ("cas-per-channel-gate", CAS, dict(filters=4, kernel_size=3, padding="same",
                                       gate_channels="per_channel"), 4, (12, 12), 2),
    ("cas-channels-first", CAS, dict(filters=4, kernel_size=3, strides=2, padding="same",
                                     data_format="channels_first"), 4, (13, 18), 2),
    ("cas-block1", CAS, dict(filters=3, kernel_size=3, padding="same"), 1, (9, 7), 2),
    ("pas-max", PAS, dict(), 4, (17, 19), 3),
    ("pas-max-k3-s2-same", PAS, dict(pool_size=3, strides=2, padding="same"), 3, (15, 16), 2),
    ("pas-average-same", PAS, dict(pool_size=3, strides=2, padding="same", pool_mode="average"),
     4, (13, 14), 2),
    ("pas-add-s1-same", PAS, dict(pool_size=3, strides=1, padding="same",
                                  pool_mode="avg_max_add"), 5, (11, 12), 2),
    ("pas-concat-per-channel-first", PAS, dict(pool_mode="avg_max_concat",
                                               gate_channels="per_channel",
                                               data_format="channels_first"), 4, (14, 15), 2),
]
IDS = [case[0] for case in CASES]


def steer_gate(layer):
    """Set the gate so that it is 1 where the first gate conv's centre tap reads a channel 0 of 1,
    and exactly 0 where it reads -1 (ReLU gate)."""
    gate = layer.gate
    first = np.zeros(gate.kernels[0].shape, "float32")
    first[first.shape[0] // 2, first.shape[1] // 2, 0, :] = 1.0
    gate.kernels[0].assign(first)
    for kernel in gate.kernels[1:]:  # averages: a kept position's gate value is 1
        kernel.assign(np.full(kernel.shape, 1.0 / np.prod(kernel.shape[:-1]), "float32"))
    for bias in gate.biases:
        bias.assign(np.zeros(bias.shape, "float32"))


def images(layer, hw, batch, kept, seed=0):
    """Random images whose channel 0 is +1 where the gate should keep and -1 elsewhere:
    kept = "none", "few" (3 patches of strides size in the batch: each holds a sampled position)
    or "all"."""
    channels_first = layer.data_format == "channels_first"
    shape = (batch, 4, *hw) if channels_first else (batch, *hw, 4)
    x = random_images(shape, seed)
    steer = np.full((batch, *hw), -1.0, "float32")
    if kept == "all":
        steer[:] = 1.0
    elif kept == "few":
        rng = np.random.default_rng(seed)
        patch = layer.gate.strides
        for _ in range(3):
            row, col = rng.integers(hw[0] - patch[0] + 1), rng.integers(hw[1] - patch[1] + 1)
            steer[rng.integers(batch), row:row + patch[0], col:col + patch[1]] = 1.0
    if channels_first:
        x[:, 0] = steer
    else:
        x[..., 0] = steer
    return x


def sparse_and_dense(layer_class, kwargs, block, input_shape, sparse_inference=True):
    """The layer with sparse execution and a dense twin with the same (steered) weights."""
    sparse = layer_class(**kwargs, sparse_inference=sparse_inference, sparse_block_size=block)
    sparse.build(input_shape)
    steer_gate(sparse)
    dense = layer_class.from_config({**sparse.get_config(), "sparse_inference": False})
    dense.build(input_shape)
    dense.set_weights(sparse.get_weights())
    return sparse, dense


def kept_fraction(layer, x):
    return float(sparse_execution.active_tile_fraction(
        keras.ops.convert_to_numpy(layer.gate_map(x)), layer.sparse_block_size,
        layer.data_format))


def assert_close(got, want, atol=1e-5):
    got, want = keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=atol)


@pytest.mark.parametrize("kept", ["none", "few", "all"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_sparse_equals_dense(case, kept):
    _, layer_class, kwargs, block, hw, batch = case
    probe = layer_class(**kwargs)
    x = images(probe, hw, batch, kept)
    sparse, dense = sparse_and_dense(layer_class, kwargs, block, x.shape)
    fraction = kept_fraction(sparse, x)
    assert {"none": fraction == 0, "few": 0 < fraction < 1, "all": fraction == 1}[kept]
    want = dense(x, training=False)
    assert (np.abs(keras.ops.convert_to_numpy(want)) > 0).any() == (kept != "none")
    assert_close(sparse(x, training=False), want)


@pytest.mark.tensorflow_only  # tf.function graphs / tf.GradientTape
@pytest.mark.parametrize("case", [CASES[0], CASES[3], CASES[8], CASES[12]],
                         ids=[IDS[0], IDS[3], IDS[8], IDS[12]])
def test_unknown_spatial_sizes_in_a_graph(case):
    """One trace with unknown batch and spatial sizes serves batches 1..N and odd sizes."""
    _, layer_class, kwargs, block, hw, _ = case
    probe = layer_class(**kwargs)
    x = images(probe, hw, 5, "few")
    sparse, dense = sparse_and_dense(layer_class, kwargs, block, x.shape)
    channels_first = sparse.data_format == "channels_first"
    spec = tf.TensorSpec((None, 4, None, None) if channels_first else (None, None, None, 4))
    run = tf.function(lambda t: sparse(t, training=False), input_signature=[spec])
    for batch, shrink in ((5, 0), (1, 0), (2, 3)):
        y = x[:batch, :, : hw[0] - shrink, : hw[1] - shrink] if channels_first else \
            x[:batch, : hw[0] - shrink, : hw[1] - shrink]
        assert_close(run(tf.constant(y)), dense(y, training=False))
    assert len(run._list_all_concrete_functions()) == 1


@pytest.mark.tensorflow_only  # the sparse path runs on TensorFlow only (JAX / torch: dense)
def test_only_the_kept_tiles_are_computed(monkeypatch):
    _, layer_class, kwargs, block, hw, batch = CASES[0]
    x = images(CAS(**kwargs), hw, batch, "few")
    sparse, dense = sparse_and_dense(layer_class, kwargs, block, x.shape)
    seen = []
    main = sparse._sparse_main
    monkeypatch.setattr(sparse, "_sparse_main", lambda w, v: seen.append(w.shape) or main(w, v))
    assert_close(sparse(x, training=False), dense(x))
    tiles = batch * -(-hw[0] // block) * -(-hw[1] // block)
    (shape,) = seen
    assert shape[1:] == (block + 2, block + 2, 4)  # (b - 1)·S + (k - 1)·d + 1 per side
    assert shape[0] == round(kept_fraction(sparse, x) * tiles) and 0 < shape[0] <= 3


@pytest.mark.tensorflow_only  # tf.function graphs / tf.GradientTape
@pytest.mark.parametrize("kept", ["few", "all"])
def test_auto_takes_either_branch_exactly(kept, monkeypatch):
    """"auto": sparse below the break-even fraction, dense above, one graph with both."""
    _, layer_class, kwargs, block, hw, batch = CASES[1]
    x = images(CAS(**kwargs), hw, batch, kept)
    auto, dense = sparse_and_dense(layer_class, kwargs, block, x.shape, sparse_inference="auto")
    fraction = kept_fraction(auto, x)
    assert (fraction <= sparse_execution.BREAK_EVEN_FRACTION) == (kept == "few")
    ran = []  # eager tf.cond runs only the branch it takes
    for name in ("_sparse_main", "initial_map"):
        method = getattr(auto, name)
        monkeypatch.setattr(auto, name, lambda *a, n=name, m=method: ran.append(n) or m(*a))
    assert_close(auto(x, training=False), dense(x))
    assert ran == (["_sparse_main"] if kept == "few" else ["initial_map"])
    monkeypatch.undo()
    run = tf.function(lambda t: auto(t, training=False))
    assert_close(run(tf.constant(x)), dense(x))
    graph = run.get_concrete_function(tf.constant(x)).graph.as_graph_def()
    assert {"If", "StatelessIf"} & {node.op for node in graph.node}


@pytest.mark.tensorflow_only  # tf.function graphs / tf.GradientTape
def test_training_runs_dense_with_gradients():
    _, layer_class, kwargs, block, hw, batch = CASES[0]
    x = tf.constant(images(CAS(**kwargs), hw, batch, "few"))
    sparse, dense = sparse_and_dense(layer_class, kwargs, block, x.shape)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = sparse(x, training=True)
    assert_close(y, dense(x, training=True))
    gradients = tape.gradient(y, [x, *sparse.trainable_variables])
    assert all(g is not None for g in gradients)


@pytest.mark.parametrize("policy,tolerance", [("mixed_float16", 2e-3), ("mixed_bfloat16", 2e-2)])
@pytest.mark.parametrize("case", [CASES[1], CASES[13]], ids=[IDS[1], IDS[13]])
def test_mixed_precision(case, policy, tolerance):
    _, layer_class, kwargs, block, hw, batch = case
    x = images(layer_class(**kwargs), hw, batch, "few")
    keras.mixed_precision.set_global_policy(policy)
    try:
        sparse, dense = sparse_and_dense(layer_class, kwargs, block, x.shape)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    got, want = sparse(x, training=False), dense(x, training=False)
    dtype = keras.backend.standardize_dtype
    assert dtype(got.dtype) == dtype(want.dtype) == policy.split("_")[1]
    assert sparse.conv.kernel.dtype == "float32" if layer_class is CAS else True
    assert_close(keras.ops.cast(got, "float32"), keras.ops.cast(want, "float32"), tolerance)


@pytest.mark.parametrize("layer_class", [CAS, PAS])
def test_config_and_keras_file_keep_the_choice(layer_class, tmp_path):
    kwargs = dict(filters=4, kernel_size=3) if layer_class is CAS else {}
    layer = layer_class(**kwargs, sparse_inference="auto", sparse_block_size=5)
    config = layer.get_config()
    assert config["sparse_inference"] == "auto" and config["sparse_block_size"] == 5
    assert layer_class(**kwargs).get_config()["sparse_inference"] is False
    assert layer_class(**kwargs).get_config()["sparse_block_size"] == 8
    model = keras.Sequential([keras.Input((8, 8, 3)), layer])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras").layers[0]
    assert (loaded.sparse_inference, loaded.sparse_block_size) == ("auto", 5)
    x = random_images((2, 8, 8, 3))
    assert_close(loaded(x), model(x))


@pytest.mark.parametrize("layer_class", [CAS, PAS])
@pytest.mark.parametrize("argument,value", [
    ("sparse_inference", "yes"), ("sparse_inference", 1), ("sparse_inference", None),
    ("sparse_block_size", 0), ("sparse_block_size", 2.0), ("sparse_block_size", True),
])
def test_bad_arguments_name_the_value(layer_class, argument, value):
    kwargs = dict(filters=4, kernel_size=3) if layer_class is CAS else {}
    with pytest.raises(ValueError, match=rf"{argument}={value!r}"):
        layer_class(**kwargs, **{argument: value})
