"""The pooling windows of an image batch, stacked on a new last axis.

    windows(x): (N, H', W', C, kh·kw)   channels_last
                (N, C, H', W', kh·kw)   channels_first

Window ``(i, j)`` covers rows ``i·s_h - top ..`` and columns ``j·s_w - left ..`` of the input, with
TensorFlow's padding: ``valid`` none, ``same`` ``total = max((H' - 1)·s + k - H, 0)`` split
``top = total // 2`` (the same windows as ``MaxPooling2D`` / ``AveragePooling2D``). Entries that
fall on padding are zeros and marked invalid in :attr:`PoolWindows.valid`. Built from ``kh·kw``
strided slices (one per kernel offset) of the padded input: plain slicing ops that every backend,
``tf_keras`` and TFLite run, and no patch-extraction conv. Keras's ``extract_patches`` has no
validity mask and its ``same`` padding is not the pooling windows' split on every backend.
"""

import dataclasses

from keras_adastride.layers.stride_gate import _conv_output_length


def spatial_axes(data_format):
    """The (row, column) axes of a rank-4 image batch."""
    return (2, 3) if data_format == "channels_first" else (1, 2)


def _size(ops, x, axis):
    """A static int where the shape is known, else the run-time size (a tensor)."""
    size = x.shape[axis]
    return int(size) if size is not None else ops.shape(x)[axis]


def _padding(ops, size, kernel, stride, padding):
    """(output length, top padding, bottom padding) along one axis; ints or tensors."""
    if padding == "valid":
        return (size - kernel) // stride + 1, 0, 0
    out = (size + stride - 1) // stride
    total = (out - 1) * stride + kernel - size
    total = max(total, 0) if isinstance(total, int) else ops.maximum(total, 0)
    return out, total // 2, total - total // 2


@dataclasses.dataclass
class PoolWindows:
    """``values``: the windows (layout above). ``valid``: None when every entry is an input pixel
    (``valid`` padding, or ``same`` without padding), else a boolean tensor broadcasting against
    ``values`` that is False on padding."""

    values: object
    valid: object


def pool_windows(ops, x, pool_size, strides, padding, data_format):
    """The pooling windows of ``x`` (see the module docstring)."""
    row_axis, col_axis = spatial_axes(data_format)
    geometry = [
        _padding(ops, _size(ops, x, axis), kernel, stride, padding)
        for axis, kernel, stride in zip((row_axis, col_axis), pool_size, strides)
    ]
    pads = [[0, 0] for _ in range(4)]
    for axis, (_, top, bottom) in zip((row_axis, col_axis), geometry):
        pads[axis] = [top, bottom]
    padded = padding == "same" and not all(
        isinstance(p, int) and p == 0 for pair in pads for p in pair
    )
    if padded:
        x = ops.pad(x, pads)

    def offsets(source, row, col):
        index = [slice(None)] * 4
        for axis, offset, stride, (out, _, _) in zip(
            (row_axis, col_axis), (row, col), strides, geometry
        ):
            index[axis] = slice(offset, offset + (out - 1) * stride + 1, stride)
        return source[tuple(index)]

    kh, kw = pool_size
    values = ops.stack([offsets(x, i, j) for i in range(kh) for j in range(kw)], axis=-1)
    if not padded:
        return PoolWindows(values, None)
    # Validity: the same slices of a padded ones map of shape (1, H, W, 1) (or (1, 1, H, W)).
    ones_shape = [1, 1, 1, 1]
    for axis in (row_axis, col_axis):
        ones_shape[axis] = _size(ops, x, axis) - sum(pads[axis])
    ones = ops.pad(ops.ones(tuple(ones_shape), dtype=values.dtype), pads)
    valid = ops.stack([offsets(ones, i, j) for i in range(kh) for j in range(kw)], axis=-1) > 0
    return PoolWindows(values, valid)


def pooled_shape(input_shape, pool_size, strides, padding, data_format):
    """Output shape of a pooling with this geometry (None sizes stay None)."""
    shape = list(input_shape)
    for axis, kernel, stride in zip(spatial_axes(data_format), pool_size, strides):
        shape[axis] = _conv_output_length(shape[axis], kernel, stride, padding, 1)
    return tuple(shape)
