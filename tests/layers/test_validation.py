"""Every bad argument or input fails at once with a ValueError naming the argument and value."""

import re

import numpy as np
import pytest

from keras_adastride import CAS, PAS, SpaceToDepth, SpaceToDepthConv, StrideGate


def _named(argument, value):
    """Pattern: the message names the argument and shows the received value."""
    shown = "|".join(re.escape(text) for text in {repr(value), str(value)})
    return rf"(?s)`?{re.escape(argument)}`?.*{re.escape(argument)}=({shown})"


BAD_ARGUMENTS = [
    (CAS, dict(filters=0, kernel_size=3), "filters", 0),
    (CAS, dict(filters=-4, kernel_size=3), "filters", -4),
    (CAS, dict(filters=2.5, kernel_size=3), "filters", 2.5),
    (CAS, dict(filters=4, kernel_size=0), "kernel_size", 0),
    (CAS, dict(filters=4, kernel_size=(3, -1)), "kernel_size", (3, -1)),
    (CAS, dict(filters=4, kernel_size=3, strides=0), "strides", 0),
    (CAS, dict(filters=4, kernel_size=3, dilation_rate=(0, 1)), "dilation_rate", (0, 1)),
    (CAS, dict(filters=4, kernel_size=3, groups=0), "groups", 0),
    (CAS, dict(filters=4, kernel_size=3, padding="full"), "padding", "full"),
    (CAS, dict(filters=4, kernel_size=3, padding="causal"), "padding", "causal"),
    (CAS, dict(filters=4, kernel_size=3, data_format="nhwc"), "data_format", "nhwc"),
    (CAS, dict(filters=4, kernel_size=3, gate_activation="tanh"), "gate_activation", "tanh"),
    (CAS, dict(filters=4, kernel_size=3, gate_init="ones"), "gate_init", "ones"),
    (CAS, dict(filters=4, kernel_size=3, gate_width=0), "gate_width", 0),
    (CAS, dict(filters=4, kernel_size=3, gate_depth=0), "gate_depth", 0),
    (CAS, dict(filters=4, kernel_size=3, gate_channels="all"), "gate_channels", "all"),
    (CAS, dict(filters=4, kernel_size=3, gate_hidden_kernel_size=0), "gate_hidden_kernel_size", 0),
    (CAS, dict(filters=4, kernel_size=3, gate_jit_compile="yes"), "gate_jit_compile", "yes"),
    (CAS, dict(filters=4, kernel_size=3, target_stride=0), "target_stride", 0),
    (CAS, dict(filters=4, kernel_size=3, target_stride=0.5), "target_stride", 0.5),
    (CAS, dict(filters=4, kernel_size=3, target_stride=2, target_stride_weight=-1),
     "target_stride_weight", -1),
    (PAS, dict(pool_size=0), "pool_size", 0),
    (PAS, dict(pool_size=2, strides=-1), "strides", -1),
    (PAS, dict(padding="reflect"), "padding", "reflect"),
    (PAS, dict(pool_mode="min"), "pool_mode", "min"),
    (PAS, dict(gate_activation="gelu"), "gate_activation", "gelu"),
    (PAS, dict(gate_channels=3), "gate_channels", 3),
    (StrideGate, dict(kernel_size=3, activation="gelu"), "activation", "gelu"),
    (StrideGate, dict(kernel_size=3, channels=0), "channels", 0),
    (StrideGate, dict(kernel_size=3, width=-1), "width", -1),
    (SpaceToDepth, dict(block_size=1), "block_size", 1),
    (SpaceToDepth, dict(block_size=0), "block_size", 0),
    (SpaceToDepth, dict(block_size=2.0), "block_size", 2.0),
    (SpaceToDepth, dict(channel_order="pytorch"), "channel_order", "pytorch"),
    (SpaceToDepth, dict(pad_to_multiple="yes"), "pad_to_multiple", "yes"),
    (SpaceToDepthConv, dict(filters=0, kernel_size=1), "filters", 0),
    (SpaceToDepthConv, dict(filters=4, kernel_size=0), "kernel_size", 0),
    (SpaceToDepthConv, dict(filters=4, kernel_size=1, block_size=1), "block_size", 1),
    (SpaceToDepthConv, dict(filters=4, kernel_size=1, padding="zeros"), "padding", "zeros"),
    (SpaceToDepthConv, dict(filters=4, kernel_size=1, channel_order="x"), "channel_order", "x"),
]


@pytest.mark.parametrize(
    "layer_class,kwargs,argument,value", BAD_ARGUMENTS,
    ids=[f"{c.__name__}-{a}={v!r}" for c, _, a, v in BAD_ARGUMENTS],
)
def test_bad_argument_raises_value_error_naming_it(layer_class, kwargs, argument, value):
    with pytest.raises(ValueError, match=_named(argument, value)):
        layer_class(**kwargs)


def test_identity_gate_needs_an_activation_that_reaches_one():
    with pytest.raises(ValueError, match=r"gate_init='identity'.*gate_activation='sigmoid'"):
        CAS(4, 3, gate_activation="sigmoid")
    CAS(4, 3, gate_activation="sigmoid", gate_init="random")  # fine with a random start


def test_conv_geometry_keras_rejects_is_rejected_at_once():
    with pytest.raises(ValueError, match=r"strides.*dilation_rate"):
        CAS(4, 3, strides=2, dilation_rate=2)


def _every_layer():
    return [
        CAS(4, 3),
        PAS(),
        StrideGate(3),
        SpaceToDepth(),
        SpaceToDepthConv(4, 1),
    ]


@pytest.mark.parametrize("shape", [(2, 8, 8), (2, 8, 8, 3, 1), (8,)])
@pytest.mark.parametrize("layer", _every_layer(), ids=lambda layer: type(layer).__name__)
def test_input_of_rank_other_than_4_raises(layer, shape):
    with pytest.raises(ValueError, match=rf"rank 4.*{re.escape(str(shape))}.*rank {len(shape)}"):
        layer(np.zeros(shape, "float32"))


@pytest.mark.parametrize("layer", _every_layer(), ids=lambda layer: type(layer).__name__)
def test_wrong_channel_count_after_build_raises(layer):
    layer(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"5 channels.*built for 3.*\(1, 8, 8, 5\)"):
        layer(np.zeros((1, 8, 8, 5), "float32"))


@pytest.mark.parametrize("layer", _every_layer(), ids=lambda layer: type(layer).__name__)
def test_unknown_channel_count_raises(layer):
    with pytest.raises(ValueError, match=r"channel dimension.*must be known"):
        layer.build((None, 8, 8, None))


def test_groups_must_divide_input_channels():
    with pytest.raises(ValueError, match=r"\(3\).*divisible by `groups`.*groups=2"):
        CAS(4, 3, groups=2)(np.zeros((1, 8, 8, 3), "float32"))


@pytest.mark.parametrize("layer_class,kwargs", [(SpaceToDepth, dict(block_size=3)),
                                                (SpaceToDepthConv, dict(filters=2, kernel_size=1,
                                                                        block_size=3))])
@pytest.mark.parametrize("rows,cols,label,size", [(7, 9, "height", 7), (9, 10, "width", 10)])
def test_size_not_divisible_by_block_raises(layer_class, kwargs, rows, cols, label, size):
    with pytest.raises(ValueError, match=rf"{label} \({size}\).*block_size`=3.*pad_to_multiple"):
        layer_class(**kwargs)(np.zeros((1, rows, cols, 2), "float32"))
    # ... also after the layer was built for a divisible size.
    layer = layer_class(**kwargs)
    layer(np.zeros((1, 9, 9, 2), "float32"))
    with pytest.raises(ValueError, match=rf"{label} \({size}\)"):
        layer(np.zeros((1, rows, cols, 2), "float32"))


@pytest.mark.tensorflow_only
def test_size_not_divisible_by_block_in_a_graph_of_unknown_size_fails_clearly():
    """A graph traced for unknown height/width learns the size only at run time, too late for a
    ValueError: it fails with TensorFlow's InvalidArgumentError carrying the same explanation."""
    import tensorflow as tf

    layer = SpaceToDepth(2)
    layer.build((None, None, None, 2))
    graph = tf.function(layer, input_signature=[tf.TensorSpec((None, None, None, 2))])
    assert graph(np.zeros((1, 4, 6, 2), "float32")).shape == (1, 2, 3, 8)
    for shape, label in (((1, 7, 6, 2), "height"), ((1, 4, 5, 2), "width")):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=rf"SpaceToDepth: the input {label}.*block_size`=2"):
            graph(np.zeros(shape, "float32"))
