"""Average pooling whose ``same`` padding never counts as a value, on every Keras backend.

    y = avg_pool_valid(pad0(x)) / avg_pool_valid(pad0(1))   (window sum / pixels in the window)

with TensorFlow's ``same`` split (:func:`~keras_adastride.layers.pooling.windows.pool_windows`).
TensorFlow and JAX average only the pixels inside the image; Keras 3.15's torch backend pads an
uneven ``same`` window by *replicating* the edge row / column (``_apply_same_padding`` in
``keras/src/backend/torch/nn.py``), so its edge windows count the edge pixel twice. PAS uses this
layer on torch; elsewhere ``AveragePooling2D`` itself.
"""

from keras_adastride.layers.pooling.windows import _padding, _size, spatial_axes


class PaddingFreeAveragePooling2DLogic:
    """``AveragePooling2D`` (same arguments and shapes) with padding left out of every mean."""

    _gen = None  # the Keras generation, set by the concrete class

    def call(self, inputs):
        if self.padding != "same":
            return super().call(inputs)
        ops = self._gen.ops
        pads, ones_shape = [[0, 0] for _ in range(4)], [1, 1, 1, 1]
        for axis, kernel, stride in zip(spatial_axes(self.data_format), self.pool_size,
                                        self.strides):
            size = _size(ops, inputs, axis)
            _, top, bottom = _padding(ops, size, kernel, stride, "same")
            pads[axis], ones_shape[axis] = [top, bottom], size
        ones = ops.ones(tuple(ones_shape), dtype=inputs.dtype)
        geometry = dict(pool_size=self.pool_size, strides=self.strides, padding="valid",
                        data_format=self.data_format)
        window_sums = ops.average_pool(ops.pad(inputs, pads), **geometry)
        window_pixels = ops.average_pool(ops.pad(ones, pads), **geometry)
        return window_sums / window_pixels
