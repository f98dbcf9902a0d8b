"""Sparse execution of a gated op at inference: the main conv/pool only where the gate keeps.

``outputs = main(x) ⊙ gate`` is zero wherever the gate is. Cut the output into tiles of
``b x b`` positions (per image); a tile is *active* when any gate value in it is non-zero. For each
active tile (across the whole batch: images are not treated apart) gather the input window the main
op reads for it, ``(b - 1)·S + (k - 1)·d + 1`` per side, run the main op ``valid`` on all windows
as one batch (each gives exactly ``b x b`` outputs), multiply by the tile's gate values and scatter
into a zero output. Shapes: ``x (N, H, W, C)``, ``gate (N, H', W', Cg)`` -> ``(N, H', W', C')``.

Block-sparse convolution is SBNet's idea (Ren et al. 2018), done there with custom CUDA kernels;
here it is ``tf.where`` / ``tf.gather`` / ``tf.scatter_nd`` (and ``tf.cond`` for ``"auto"``), plain
TensorFlow ops, so the exported graphs need no custom op and no XLA. Written with TensorFlow
rather than ``keras.ops``: the number of active tiles is data-dependent, a dynamic shape that only
the TensorFlow backend (and ``tf_keras``) can trace; JAX and PyTorch Keras backends run dense.
"""

import tensorflow as tf

#: values of the layers' ``sparse_inference`` argument
SPARSE_INFERENCE_CHOICES = (False, True, "auto")

#: ``"auto"`` runs sparse when at most this fraction of the tiles is active, else dense. Measured
#: in benchmarks/README.md ("Sparse execution"): sparse CAS costs what dense CAS costs at about
#: this kept fraction (CPU, TensorFlow, block size 8: 0.57 at stride 1, 0.55 at stride 2).
BREAK_EVEN_FRACTION = 0.55


def _same_padding_before(size, out, kernel, stride, dilation):
    reach = (kernel - 1) * dilation + 1
    return tf.maximum((out - 1) * stride + reach - size, 0) // 2


def _grid(count, step, size, origin):
    """``origin + i·step + [0, size)`` for i in ``count``: (len(count), size) int32 positions."""
    return origin + count[:, None] * step + tf.range(size)[None, :]


def gated_sparse(x, gate, main, *, channels, kernel_size, strides, dilation_rate, padding,
                 data_format, block_size, break_even=None, dense=None):
    """``main(x) * gate`` computed on the active ``block_size`` tiles only.

    Args:
        x: the layer input (``data_format`` layout).
        gate: the gate map, already broadcastable to the main op's output channels.
        main: ``main(windows, valid) -> (M, b, b, C')``: the main op with ``valid`` padding on
            ``windows (M, w, w, C)`` (channels last), w = ``(b-1)·S + (k-1)·d + 1``. ``valid`` is
            None, or a ``(M, w, w, 1)`` bool map that is False on positions outside the input
            (``same`` padding: a conv reads zeros there, a pooling ignores them).
        kernel_size, strides, dilation_rate, padding: the main op's geometry (pairs, string).
        channels: C', the main op's output channels.
        block_size: b, the tile side in output positions.
        break_even, dense: for ``"auto"``: when the active fraction is above ``break_even`` the
            result is ``dense()`` instead (one ``tf.cond``, both branches in the graph).
    """
    channels_first = data_format == "channels_first"
    if channels_first:  # tiles are cut and gathered channels-last
        x = tf.transpose(x, (0, 2, 3, 1))
        gate = tf.transpose(gate, (0, 2, 3, 1))
    b = block_size
    shape, gate_shape = tf.shape(x), tf.shape(gate)
    n, size = shape[0], (shape[1], shape[2])
    out = (gate_shape[1], gate_shape[2])
    blocks = tuple(-(-o // b) for o in out)
    tiled = tuple(count * b for count in blocks)  # output size rounded up to whole tiles

    active = _active_tiles(gate, b)  # (N, ⌈H'/b⌉, ⌈W'/b⌉)
    tiles = tf.cast(tf.where(active), tf.int32)  # (M, 3): image, tile row, tile column

    def sparse():
        image, tile_row, tile_col = tiles[:, 0], tiles[:, 1], tiles[:, 2]
        window = [(b - 1) * s + (k - 1) * d + 1
                  for s, k, d in zip(strides, kernel_size, dilation_rate)]
        before = [
            _same_padding_before(size[i], out[i], kernel_size[i], strides[i], dilation_rate[i])
            if padding == "same" else 0
            for i in range(2)
        ]
        # Input rows / columns of each window, then clamped into the input (positions outside it
        # are padding: reported in `valid`; with `valid` padding they only feed cropped outputs).
        rows = _grid(tile_row, b * strides[0], window[0], -before[0])  # (M, w)
        cols = _grid(tile_col, b * strides[1], window[1], -before[1])
        flat = ((image[:, None, None] * size[0] + tf.clip_by_value(rows, 0, size[0] - 1)[:, :, None])
                * size[1] + tf.clip_by_value(cols, 0, size[1] - 1)[:, None, :])
        windows = tf.gather(tf.reshape(x, (-1, x.shape[-1])), flat)  # (M, w, w, C)
        valid = None
        if padding == "same":
            valid = (((rows >= 0) & (rows < size[0]))[:, :, None, None]
                     & ((cols >= 0) & (cols < size[1]))[:, None, :, None])
        # Tile rows: the output padded to whole tiles, seen as (N·H'·⌈W'/b⌉, b·C') rows of b
        # contiguous positions; a tile is b of them. Gate and output move in whole tile rows
        # (b times fewer, longer slices than single positions).
        tile_rows = tf.reshape(
            (image[:, None] * tiled[0] + _grid(tile_row, b, b, 0)) * blocks[1] + tile_col[:, None],
            (-1,),
        )  # (M·b,)
        padded_gate = tf.pad(gate, [[0, 0], [0, tiled[0] - out[0]], [0, tiled[1] - out[1]], [0, 0]])
        gate_tiles = tf.gather(tf.reshape(padded_gate, (-1, b * gate.shape[-1])), tile_rows)
        products = main(windows, valid) * tf.reshape(gate_tiles, (-1, b, b, gate.shape[-1]))
        # The "scatter" into a zero output, as a gather (parallel; tf.scatter_nd is serial on a
        # CPU and costs 1.6x): output tile row <- product row, or row 0, a row of zeros.
        # A tile's slot is its rank among the active tiles in tf.where's (row-major) order.
        slot = tf.reshape(tf.cumsum(tf.reshape(tf.cast(active, tf.int32), (-1,))),
                          (n, blocks[0], 1, blocks[1]))
        source = tf.where(active[:, :, None, :], (slot - 1) * b + tf.range(b)[:, None] + 1, 0)
        product_rows = tf.reshape(products, (-1, b * channels))  # (M·b, b·C')
        outputs = tf.gather(tf.concat([tf.zeros_like(product_rows[:1]), product_rows], 0),
                            tf.reshape(source, (-1,)))  # (N·⌈H'/b⌉·b·⌈W'/b⌉, b·C')
        outputs = tf.reshape(outputs, (n, tiled[0], tiled[1], channels))[:, :out[0], :out[1]]
        return tf.transpose(outputs, (0, 3, 1, 2)) if channels_first else outputs

    def none_kept():  # (TensorFlow's CPU conv returns its input unchanged on an empty batch)
        outputs = tf.zeros(tf.stack([n, out[0], out[1], channels]), gate.dtype)
        return tf.transpose(outputs, (0, 3, 1, 2)) if channels_first else outputs

    def sparse_or_zeros():
        return tf.cond(tf.shape(tiles)[0] > 0, sparse, none_kept)

    if break_even is None:
        outputs = sparse_or_zeros()
    else:
        fraction = tf.cast(tf.shape(tiles)[0], tf.float32) / tf.cast(
            tf.maximum(n * blocks[0] * blocks[1], 1), tf.float32)
        outputs = tf.cond(fraction <= break_even, sparse_or_zeros, dense)
    return outputs


def pool_windows(windows, valid, kind, pool_size, strides):
    """``kind`` ("max" or "average") pooling, ``valid``, on gathered windows (channels last).

    Where ``valid`` is False (outside the input, ``same`` padding) a max pool reads the dtype's
    lowest value and an average pool divides by the count of valid positions, as ``same``
    pooling does.
    """
    pool = dict(ksize=pool_size, strides=strides, padding="VALID")
    if kind == "max":
        if valid is not None:
            windows = tf.where(valid, windows, windows.dtype.min)
        return tf.nn.max_pool2d(windows, **pool)
    if valid is None:
        return tf.nn.avg_pool2d(windows, **pool)
    valid = tf.cast(valid, windows.dtype)
    return tf.nn.avg_pool2d(windows * valid, **pool) / tf.nn.avg_pool2d(valid, **pool)


def _active_tiles(gate, b):
    """(N, ⌈H'/b⌉, ⌈W'/b⌉) bool: whether any gate value of the tile (any channel) is non-zero."""
    shape = tf.shape(gate)
    blocks = (-(-shape[1] // b), -(-shape[2] // b))
    kept = tf.reduce_max(tf.abs(gate), axis=-1)
    kept = tf.pad(kept, [[0, 0], [0, blocks[0] * b - shape[1]], [0, blocks[1] * b - shape[2]]])
    return tf.reduce_max(tf.reshape(kept, (shape[0], blocks[0], b, blocks[1], b)), axis=(2, 4)) > 0


def active_tile_fraction(gate, block_size, data_format):
    """Fraction of the ``block_size`` tiles (over the batch) with a non-zero gate value: the share
    of the main op that sparse execution computes."""
    if data_format == "channels_first":
        gate = tf.transpose(gate, (0, 2, 3, 1))
    return tf.reduce_mean(tf.cast(_active_tiles(gate, block_size), tf.float32))
