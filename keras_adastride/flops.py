"""Count a model's floating-point operations from its layers' shapes, for one input image.

Convention (stated once, used everywhere):

- a multiply-add counts as **2 FLOPs** (so FLOPs = 2 x MACs of the convs and dense layers);
- conv / dense bias: 1 FLOP per output element; BatchNormalization (inference form,
  ``x * scale + shift``): 2 per element; elementwise Add / Multiply / Subtract / Average /
  Maximum / Minimum: 1 per output element and extra input;
- pooling: 1 per window element read per output (kh·kw per output of a max/avg pool, H·W·C for a
  global pool; an average pool's final division is not counted);
- activations (ReLU, softmax, ...), padding, reshapes, concatenation, up-sampling, dropout and
  space-to-depth (data movement) cost 0;
- CAS = its conv + its stride gate + the product with the gate map; PAS = its pooling(s) (+ the
  add of ``avg_max_add``) + gate + product; StrideGate = its convs (+ biases); SpaceToDepthConv =
  the stride-1 conv on the rearranged input.

Counts need static spatial sizes: build the model with a fixed ``input_shape``.

**Effective FLOPs on this data** (:func:`effective_flops`): what sparse execution
(``sparse_inference``, docs/performance.md) spends on given images. Each CAS / PAS computes its
gate everywhere, and its main op and product only on the ``sparse_block_size`` tiles its gate
keeps: ``kept tiles x b²`` positions per image (a tile that overhangs the output edge is computed
whole), measured per layer on the images (:func:`kept_tile_fractions`). Other layers as above.
"""

import math

import keras

from keras_adastride.layers import (CAS, PAS, MedianPooling2D, SpaceToDepthConv,
                                    SpatialPyramidPooling, StochasticPooling2D, StrideGate)

_ELEMENTWISE = (keras.layers.Add, keras.layers.Multiply, keras.layers.Subtract,
                keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum)
_POOLS = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, MedianPooling2D,
          StochasticPooling2D)
_GLOBAL_POOLS = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)


def count_flops(model, kept_tiles=None):
    """Total FLOPs of one forward pass on one image (multiply-add = 2 FLOPs; see module doc).

    ``kept_tiles``: None (dense), or ``{CAS/PAS layer name: kept tile fraction}`` for the FLOPs
    sparse execution spends (see :func:`effective_flops`).
    """
    return sum(flops_by_layer(model, kept_tiles).values())


def effective_flops(model, images, batch_size=256):
    """FLOPs per image that sparse execution spends on ``images`` (the mean over them)."""
    return count_flops(model, kept_tile_fractions(model, images, batch_size))


def kept_tile_fractions(model, images, batch_size=256):
    """``{CAS/PAS layer name: share of its sparse_block_size tiles, over images, where its gate
    has a non-zero value}``: the share of its main op that sparse execution computes."""
    from keras_adastride.layers.sparse_execution import active_tile_fraction

    layers = [layer for layer in model.layers if isinstance(layer, (CAS, PAS))]
    if not layers:
        return {}
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    kept = [0.0] * len(layers)
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        layer_inputs = probe(batch, training=False)
        layer_inputs = layer_inputs if isinstance(layer_inputs, (list, tuple)) else [layer_inputs]
        for i, (layer, inputs) in enumerate(zip(layers, layer_inputs)):
            gate = keras.ops.convert_to_numpy(layer.gate_map(inputs))  # (torch: no grad)
            kept[i] += len(batch) * float(active_tile_fraction(
                gate, layer.sparse_block_size, layer.data_format))
    return {layer.name: value / len(images) for layer, value in zip(layers, kept)}


def flops_by_layer(model, kept_tiles=None):
    """``{layer name: FLOPs}`` over the model's graph (nested models get ``outer/inner`` keys).

    Functional and Sequential models (a Sequential must be built with a known input shape).
    ``kept_tiles``: as in :func:`count_flops`.
    """
    graph = getattr(model, "_functional", None) if isinstance(model, keras.Sequential) else model
    if graph is None or not hasattr(graph, "_nodes_by_depth"):
        raise ValueError(
            f"count_flops: {model.name!r} is not a built Functional or Sequential model; build it "
            "with a fixed input shape (subclassed models have no layer graph to count)."
        )
    counts = {}
    for depth in sorted(graph._nodes_by_depth, reverse=True):
        for node in graph._nodes_by_depth[depth]:
            layer = node.operation
            inputs = [t.shape for t in node.input_tensors]
            outputs = [t.shape for t in node.output_tensors]
            if isinstance(layer, keras.Model):
                for inner, value in flops_by_layer(layer, kept_tiles).items():
                    counts[f"{layer.name}/{inner}"] = counts.get(f"{layer.name}/{inner}", 0) + value
                continue
            if not inputs:
                continue
            kept = None if kept_tiles is None else kept_tiles.get(layer.name)
            counts[layer.name] = counts.get(layer.name, 0) + layer_flops(
                layer, inputs, outputs, kept)
    return counts


def _size(shape, layer):
    dims = tuple(shape)[1:]
    if any(d is None for d in dims):
        raise ValueError(
            f"count_flops: layer {layer.name!r} has an unknown dimension in shape {tuple(shape)}; "
            "build the model with a fixed input_shape."
        )
    return math.prod(dims)


def _channels_last(layer):
    return getattr(layer, "data_format", "channels_last") != "channels_first"


def _conv2d(layer, input_shape, output_shape):
    """Conv2D / Conv2DTranspose / DepthwiseConv2D / SeparableConv2D (multiply-add = 2)."""
    cin = input_shape[-1] if _channels_last(layer) else input_shape[1]
    kh, kw = layer.kernel_size
    out = _size(output_shape, layer)
    if isinstance(layer, keras.layers.SeparableConv2D):
        depthwise_out = out // layer.filters * cin * layer.depth_multiplier
        macs = depthwise_out * kh * kw + out * cin * layer.depth_multiplier
    elif isinstance(layer, keras.layers.DepthwiseConv2D):
        macs = out * kh * kw
    elif isinstance(layer, keras.layers.Conv2DTranspose):
        macs = _size(input_shape, layer) * kh * kw * layer.filters
    else:
        macs = out * kh * kw * cin // layer.groups
    return 2 * macs + (out if layer.use_bias else 0)


def _gate(gate, input_shape):
    """StrideGate: first conv (the main op's geometry), then stride-1 convs; each with bias."""
    cin = input_shape[-1] if gate.data_format != "channels_first" else input_shape[1]
    out_shape = gate.compute_output_shape(tuple(input_shape))
    channel_axis = 1 if gate.data_format == "channels_first" else -1
    positions = _size(out_shape, gate) // out_shape[channel_axis]
    widths = [cin] + [gate.width] * (gate.depth - 1) + [gate.channels or cin]
    total = 0
    for i in range(gate.depth):
        kh, kw = gate.kernel_size if i == 0 else (gate.hidden_kernel_size,) * 2
        total += positions * (2 * kh * kw * widths[i] * widths[i + 1] + widths[i + 1])
    return total


def _computed_share(layer, output_shape, kept):
    """Share of the output positions a sparse CAS / PAS computes: kept tiles x b² / positions."""
    if kept is None:
        return 1
    b = layer.sparse_block_size
    rows, cols = (output_shape[2:] if layer.data_format == "channels_first" else output_shape[1:3])
    return kept * math.ceil(rows / b) * math.ceil(cols / b) * b * b / (rows * cols)


def layer_flops(layer, input_shapes, output_shapes, kept=None):
    """FLOPs of one call of ``layer`` with these input / output shapes (batch dim ignored).

    ``kept``: for a CAS / PAS, the kept tile fraction of sparse execution (None: dense).
    """
    x, y = input_shapes[0], output_shapes[0]
    if isinstance(layer, CAS):
        main = _conv2d(layer.conv, x, y) + _size(y, layer)
        return main * _computed_share(layer, y, kept) + _gate(layer.gate, x)
    if isinstance(layer, PAS):
        # k² per output and pooling (median / stochastic: counted as one pass over the window)
        pools = layer._pools()
        pooled = pools[0].compute_output_shape(tuple(x))
        main = sum(_size(pooled, layer) * math.prod(layer.pool_size) for _ in pools)
        main += {"avg_max_add": 1, "avg_max_mean": 2}.get(layer.pool_mode, 0) * _size(pooled, layer)
        main += _size(y, layer)
        return main * _computed_share(layer, y, kept) + _gate(layer.gate, x)
    if isinstance(layer, StrideGate):
        return _gate(layer, x)
    if isinstance(layer, SpatialPyramidPooling):  # stride-1 pools, each k² per input entry
        return sum(_size(x, layer) * k * k for k in layer.pool_sizes)
    if isinstance(layer, SpaceToDepthConv):
        return _conv2d(layer.conv, layer.space_to_depth.compute_output_shape(tuple(x)), y)
    if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose,
                          keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)):
        return _conv2d(layer, x, y)
    if isinstance(layer, keras.layers.Dense):
        out = _size(y, layer)
        return 2 * out * x[-1] + (out if layer.use_bias else 0)
    if isinstance(layer, keras.layers.BatchNormalization):
        return 2 * _size(y, layer)
    if isinstance(layer, _POOLS):
        return _size(y, layer) * math.prod(layer.pool_size)
    if isinstance(layer, _GLOBAL_POOLS):
        return _size(x, layer)
    if isinstance(layer, _ELEMENTWISE):
        return (len(input_shapes) - 1) * _size(y, layer)
    return 0
