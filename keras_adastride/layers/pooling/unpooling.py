"""Max pooling that returns its argmax, and the unpooling that puts values back there (SegNet,
Badrinarayanan et al. 2017; Zeiler & Fergus's deconvnet "switches").

``MaxPoolingWithArgmax2D``: ``x -> [max_pool(x), indices]``; ``indices[n, i, j, c]`` (int32) is
where the maximum of that window lies in the flattened image ``x[n]``, in the layer's data
format (channels_last: ``(row·W + col)·C + c``, the index ``tf.nn.max_pool_with_argmax`` gives
with ``include_batch_in_index=False``; channels_first: ``(c·H + row)·W + col``).

``MaxUnpooling2D``: ``[y, indices] -> u`` with ``u`` zero except
``u[n].flat[indices[n, i, j, c]] += y[n, i, j, c]``: the transpose of the max pool's selection
(what its gradient does); with non-overlapping windows each position gets at most one value.
The output size is that of a third input (``[y, indices, x]``, any tensor of the pooled input's
shape) or, without one, ``(H' - 1)·s + k`` (``valid``) / ``H'·s`` (``same``) per axis.
"""

from keras_adastride import _validation as check
from keras_adastride.layers.pooling.base import WindowPooling2DLogic
from keras_adastride.layers.pooling.selection import select_along_last_axis
from keras_adastride.layers.pooling.windows import pool_windows, spatial_axes


class MaxPoolingWithArgmax2DLogic(WindowPooling2DLogic):
    """``MaxPooling2D`` (same arguments and values) that also returns the argmax indices (see
    module docstring): ``x -> [pooled, indices]``."""

    def call(self, inputs, training=None):
        check.same_channels(
            type(self).__name__, self._input_channels, inputs.shape, self.data_format
        )
        ops = self._gen.ops
        geometry = (self.pool_size, self.strides, self.padding, self.data_format)
        windows = pool_windows(ops, inputs, *geometry)
        values = windows.values
        if windows.valid is not None:
            values = ops.where(windows.valid, values, ops.full_like(values, float("-inf")))
        best = ops.argmax(values, axis=-1)
        pooled = select_along_last_axis(ops, values, best)
        # The flat pixel index row·W + col of every input position, cut into the same windows.
        row_axis, col_axis = spatial_axes(self.data_format)
        rows, cols = ops.shape(inputs)[row_axis], ops.shape(inputs)[col_axis]
        map_shape = [1, 1, 1, 1]
        map_shape[row_axis], map_shape[col_axis] = rows, cols
        pixels = ops.reshape(ops.arange(rows * cols, dtype="int32"), map_shape)
        pixel = select_along_last_axis(ops, pool_windows(ops, pixels, *geometry).values, best)
        channels = self._input_channels
        if self.data_format == "channels_first":
            channel = ops.reshape(ops.arange(channels, dtype="int32"), (1, channels, 1, 1))
            indices = channel * (rows * cols) + pixel
        else:
            indices = pixel * channels + ops.arange(channels, dtype="int32")
        return [pooled, ops.cast(indices, "int32")]

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        return [shape, shape]

    def compute_output_spec(self, inputs, training=None):
        shape = self.compute_output_shape(inputs.shape)
        tensor = self._gen.keras.KerasTensor
        return [tensor(shape[0], dtype=self.compute_dtype), tensor(shape[1], dtype="int32")]


class MaxUnpooling2DLogic(WindowPooling2DLogic):
    """Unpooling by argmax indices (see module docstring): ``[y, indices] -> u`` or
    ``[y, indices, x] -> u`` (``u`` of ``x``'s shape). Arguments as ``MaxPooling2D``'s: those of
    the pool it undoes (they only set the default output size)."""

    def _unpack(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(f"{type(self).__name__}: `inputs` must be [values, indices] or "
                             f"[values, indices, pooled_input]; received {inputs!r}.")
        return inputs

    def build(self, input_shape):
        shapes = self._unpack(input_shape)
        self._input_channels = check.image_input_shape(type(self).__name__, shapes[0],
                                                       self.data_format)
        if tuple(shapes[0]) != tuple(shapes[1]):
            raise ValueError(f"{type(self).__name__}: values and indices must have the same "
                             f"shape; received {tuple(shapes[0])} and {tuple(shapes[1])}.")
        super(WindowPooling2DLogic, self).build(input_shape)

    def _output_size(self, size, axis_index):
        if size is None:
            return None
        kernel, stride = self.pool_size[axis_index], self.strides[axis_index]
        return (size - 1) * stride + kernel if self.padding == "valid" else size * stride

    def call(self, inputs, training=None):
        values, indices, *like = self._unpack(inputs)
        ops = self._gen.ops
        axes = spatial_axes(self.data_format)
        if like:
            rows, cols = (ops.shape(like[0])[axis] for axis in axes)
        else:
            rows, cols = (self._output_size(ops.shape(values)[axis], i)
                          for i, axis in enumerate(axes))
        batch, channels = ops.shape(values)[0], self._input_channels
        flat_indices = ops.reshape(ops.cast(indices, "int32"), (batch, -1))
        image = ops.broadcast_to(ops.expand_dims(ops.arange(batch, dtype="int32"), -1),
                                 ops.shape(flat_indices))
        positions = ops.reshape(ops.stack([image, flat_indices], axis=-1), (-1, 2))
        unpooled = ops.scatter(positions, ops.reshape(values, (-1,)),
                               (batch, rows * cols * channels))
        shape = (batch, channels, rows, cols) if self.data_format == "channels_first" else (
            batch, rows, cols, channels)
        return ops.reshape(unpooled, shape)

    def compute_output_shape(self, input_shape):
        shapes = self._unpack(input_shape)
        if len(shapes) == 3:
            return tuple(shapes[2])
        shape = list(shapes[0])
        for i, axis in enumerate(spatial_axes(self.data_format)):
            shape[axis] = self._output_size(shape[axis], i)
        return tuple(shape)
