"""mixed_float16 / mixed_bfloat16: float32 variables, low-precision outputs, a bounded gate that
stays finite under float16 where the unbounded ReLU gate overflows."""

import numpy as np
import pytest

import keras

from backend_neutral import to_numpy, value_and_gradients
from keras_adastride import CAS, PAS, SpaceToDepth, SpaceToDepthConv, StrideGate
from layer_references import random_images

LAYERS = [
    (CAS, dict(filters=4, kernel_size=3, strides=2, padding="same", gate_init="random")),
    (CAS, dict(filters=4, kernel_size=3, gate_channels="per_channel", gate_activation="relu6",
               gate_init="random", target_stride=2)),
    (PAS, dict(pool_mode="avg_max_concat", gate_init="random", gate_activation="scaled_sigmoid")),
    (StrideGate, dict(kernel_size=3, initialization="random")),
    (SpaceToDepth, dict(channel_order="focus")),
    (SpaceToDepthConv, dict(filters=4, kernel_size=3, padding="same")),
]


def _twin(layer_class, kwargs, policy, x):
    """The layer under ``policy`` and a float32 twin carrying the same weights."""
    keras.mixed_precision.set_global_policy(policy)
    low = layer_class(**kwargs)
    keras.mixed_precision.set_global_policy("float32")
    full = layer_class(**kwargs)
    low.build(x.shape)
    full.build(x.shape)
    full.set_weights(low.get_weights())
    return low, full


@pytest.mark.parametrize("policy,dtype,tolerance",
                         [("mixed_float16", "float16", 2e-2), ("mixed_bfloat16", "bfloat16", 5e-2)])
@pytest.mark.parametrize("layer_class,kwargs", LAYERS, ids=[c.__name__ for c, _ in LAYERS])
def test_low_precision_compute_float32_variables(layer_class, kwargs, policy, dtype, tolerance):
    x = random_images((2, 8, 8, 4))
    low, full = _twin(layer_class, kwargs, policy, x)
    assert low.dtype_policy.name == policy
    assert all(w.dtype == "float32" for w in low.weights)
    out = low(x)
    assert keras.backend.standardize_dtype(out.dtype) == dtype
    for loss in low.losses:  # the target-stride loss is computed in float32
        assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    reference = to_numpy(full(x))
    out = to_numpy(keras.ops.cast(out, "float32"))
    scale = np.abs(reference).max()
    np.testing.assert_allclose(out, reference, rtol=0, atol=tolerance * scale)
    # Gradients reach the float32 variables through the low-precision graph.
    if low.trainable_weights:
        _, grads = value_and_gradients(
            lambda: keras.ops.sum(keras.ops.cast(low(x), "float32") ** 2), low.trainable_weights)
        assert all(g is not None and g.dtype == "float32" for g in grads)


def _large_gate_layer(layer_class, gate_activation, policy):
    """A layer whose gate pre-activation is huge: hidden weights of 4 on inputs of 100."""
    keras.mixed_precision.set_global_policy(policy)
    kwargs = dict(gate_activation=gate_activation, gate_init="random", gate_width=8)
    layer = (CAS(4, 3, padding="same", kernel_initializer="ones", **kwargs) if layer_class is CAS
             else PAS(2, **kwargs))
    keras.mixed_precision.set_global_policy("float32")
    layer.build((None, 8, 8, 4))
    for kernel in layer.gate.kernels:
        kernel.assign(np.full(kernel.shape, 4.0, "float32"))
    return layer


@pytest.mark.parametrize("layer_class", [CAS, PAS])
def test_bounded_gate_stays_finite_under_float16_with_large_inputs(layer_class):
    x = np.abs(random_images((2, 8, 8, 4), scale=100.0))
    # The unbounded ReLU gate overflows float16 (so the test can fail) ...
    relu = _large_gate_layer(layer_class, "relu", "mixed_float16")
    assert not np.isfinite(to_numpy(keras.ops.cast(relu(x), "float32"))).all()
    for activation, bound in (("relu6", 6.0), ("scaled_sigmoid", 12.0)):
        low = _large_gate_layer(layer_class, activation, "mixed_float16")
        full = _large_gate_layer(layer_class, activation, "float32")
        full.set_weights(low.get_weights())
        gate = to_numpy(keras.ops.cast(low.gate_map(x), "float32"))
        assert np.isfinite(gate).all() and gate.max() <= bound
        out = to_numpy(keras.ops.cast(low(x), "float32"))
        assert np.isfinite(out).all(), activation
        reference = to_numpy(full(x))
        np.testing.assert_allclose(out, reference, rtol=0, atol=1e-2 * np.abs(reference).max())


@pytest.mark.parametrize("layer_class,kwargs", [
    (CAS, dict(filters=8, kernel_size=3, gate_init="random")),  # output width 8 == filters
    (PAS, dict(pool_mode="avg_max_add", gate_init="random")),
    (SpaceToDepthConv, dict(filters=5, kernel_size=1)),
], ids=["CAS", "PAS", "SpaceToDepthConv"])
def test_channels_first_under_mixed_bfloat16(layer_class, kwargs):
    # (TensorFlow has no float16 NCHW conv on CPU, for Keras's own Conv2D too: bfloat16 here.)
    x = random_images((2, 4, 10, 10))
    low, full = _twin(layer_class, dict(kwargs, data_format="channels_first"), "mixed_bfloat16", x)
    out = low(x)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    reference = to_numpy(full(x))
    np.testing.assert_allclose(to_numpy(keras.ops.cast(out, "float32")), reference, rtol=0,
                               atol=5e-2 * np.abs(reference).max())
