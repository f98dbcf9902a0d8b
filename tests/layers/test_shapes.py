"""Gate map and initial map have the same shape for every size, padding, stride and dilation;
compute_output_shape agrees with the real output; unknown height and width work."""

import numpy as np
import pytest

import keras

from backend_neutral import output_shape, run, to_numpy
from keras_adastride import CAS, PAS, SpaceToDepth, SpaceToDepthConv, StrideGate
from layer_references import pad_to_multiple_reference, random_images, space_to_depth_reference

SIZES = range(1, 34)


def _check_maps(layer, rows, cols, channels=2):
    """Gate map rows/cols == initial map rows/cols == compute_output_shape's (and, for a few
    sizes, the whole layer's output, run: eager calls are slow, this loop makes ~1,500 of them)."""
    x = random_images((1, rows, cols, channels), seed=rows)
    gate = output_shape(layer.gate_map, x)
    initial = output_shape(layer.initial_map, x)
    expected = tuple(layer.compute_output_shape(x.shape))
    assert gate[:3] == initial[:3] == expected[:3], (rows, cols)
    assert initial == expected
    if rows % 8 in (1, 2):
        assert run(layer, x).shape == expected


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2, 3])
@pytest.mark.parametrize("kernel,dilation", [(3, 1), (2, 1), (3, 2)])
def test_cas_gate_and_initial_map_shapes_agree(padding, strides, kernel, dilation):
    if strides > 1 and dilation > 1:
        pytest.skip("Keras convs reject strides > 1 with dilation > 1")
    layer = CAS(3, kernel, strides=strides, padding=padding, dilation_rate=dilation,
                gate_init="random")
    layer.build((None, None, None, 2))
    effective = (kernel - 1) * dilation + 1
    for size in SIZES:
        other = 34 - size  # odd with even, small with large
        if padding == "valid" and min(size, other) < effective:
            continue  # the conv is not defined
        _check_maps(layer, size, other)


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize("strides", [1, 2, 3])
@pytest.mark.parametrize("pool_size,pool_mode", [(2, "max"), (3, "avg_max_concat")])
def test_pas_gate_and_initial_map_shapes_agree(padding, strides, pool_size, pool_mode):
    layer = PAS(pool_size, strides=strides, padding=padding, pool_mode=pool_mode,
                gate_channels="per_channel", gate_init="random")
    layer.build((None, None, None, 2))
    for size in SIZES:
        other = 34 - size
        if padding == "valid" and min(size, other) < pool_size:
            continue
        _check_maps(layer, size, other)


@pytest.mark.parametrize(
    "layer",
    [
        CAS(4, 3, strides=2, padding="same", data_format="channels_first"),
        CAS(4, (3, 1), padding="valid", dilation_rate=(1, 2), gate_channels="per_channel"),
        PAS(3, 2, padding="same", pool_mode="avg_max_concat", data_format="channels_first"),
        PAS(2, pool_mode="average"),
        StrideGate(3, strides=2, padding="same", channels=None),
        StrideGate(3, strides=1, channels=5, data_format="channels_first"),
        SpaceToDepth(3, pad_to_multiple=True),
        SpaceToDepth(2, data_format="channels_first"),
        SpaceToDepthConv(6, 3, padding="same", pad_to_multiple=True),
        SpaceToDepthConv(6, 1, block_size=3, data_format="channels_first"),
    ],
    ids=lambda layer: layer.name,
)
def test_compute_output_shape_matches_output(layer):
    channels_first = getattr(layer, "data_format", None) == "channels_first"
    shape = (2, 4, 12, 12) if channels_first else (2, 12, 12, 4)
    x = random_images(shape)
    out = to_numpy(layer(x))
    assert out.shape == tuple(layer.compute_output_shape(shape))
    # Symbolic shapes with unknown height and width keep their channel count.
    unknown = (None, 4, None, None) if channels_first else (None, None, None, 4)
    symbolic = layer.compute_output_shape(unknown)
    axis = 1 if channels_first else 3
    assert symbolic[axis] == out.shape[axis]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_unknown_height_and_width(data_format):
    channels_first = data_format == "channels_first"
    inputs = keras.Input((3, None, None) if channels_first else (None, None, 3))
    kw = dict(data_format=data_format)
    layers = [
        CAS(4, 3, strides=2, padding="same", gate_init="random", **kw),
        CAS(4, 3, padding="valid", gate_channels="per_channel", gate_init="random",
            target_stride=2, **kw),
        PAS(pool_mode="avg_max_concat", gate_init="random", **kw),
        PAS(3, 2, padding="same", gate_init="random", **kw),
        SpaceToDepth(2, pad_to_multiple=True, channel_order="focus", **kw),
        SpaceToDepthConv(4, 3, padding="same", pad_to_multiple=True, **kw),
    ]
    model = keras.Model(inputs, [layer(inputs) for layer in layers])
    for rows, cols in [(7, 5), (8, 4)]:
        x = random_images((2, rows, cols, 3), seed=rows)
        if channels_first:
            x = x.transpose(0, 3, 1, 2)
        graph_outputs = model.predict(x, verbose=0)  # a traced, shape-polymorphic function
        for layer, out in zip(layers, graph_outputs):
            np.testing.assert_allclose(out, run(layer, x), rtol=0, atol=1e-5)
            assert out.shape == tuple(layer.compute_output_shape(x.shape))
        padded = pad_to_multiple_reference(x, 2, data_format)
        np.testing.assert_array_equal(
            graph_outputs[4], space_to_depth_reference(padded, 2, "focus", data_format)
        )
