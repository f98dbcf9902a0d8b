"""Spatial pyramid pooling, YOLO style (YOLOv3-SPP, YOLOv4/v5, YOLOX's ``SPPBottleneck``).

    y = concat([x, maxpool_{k_1}(x), ..., maxpool_{k_n}(x)], channels)      (input_position "first")
    (N, H, W, C) -> (N, H, W, (n + 1)·C)

Every pool is stride 1 with ``same`` padding (odd ``k``: ``k // 2`` each side, padding never the
maximum), so all maps keep the input's size and the receptive field grows by ``k - 1``.
YOLOX / YOLOv5 order: ``pool_sizes=(5, 9, 13)``, input first. Darknet's ``yolov3-spp.cfg``
(``route -1,-3,-5,-6``): ``pool_sizes=(13, 9, 5)``, ``input_position="last"``. (SPPNet's original
pyramid of fixed-size bins is a different layer.)
"""

import numbers

from keras_adastride import _validation as check

INPUT_POSITIONS = ("first", "last")


class SpatialPyramidPoolingLogic:
    """Stride-1 max pools of several sizes concatenated with the input (see module docstring).

    Args:
        pool_sizes: odd window sizes, in concatenation order (default YOLO's 5, 9, 13).
        input_position: "first" (YOLOX, YOLOv5) or "last" (Darknet) place of the input.
        data_format: "channels_last" or "channels_first" (None: the Keras default).
    """

    _gen = None  # the Keras generation, set by the concrete class

    def __init__(self, pool_sizes=(5, 9, 13), input_position="first", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        sizes = (pool_sizes,) if isinstance(pool_sizes, numbers.Integral) else pool_sizes
        try:
            sizes = tuple(sizes)
        except TypeError:
            sizes = ()
        if not sizes or not all(isinstance(k, numbers.Integral) and not isinstance(k, bool)
                                and k >= 1 and k % 2 for k in sizes):
            raise ValueError(
                f"{name}: argument `pool_sizes` must be a non-empty list of odd positive "
                f"integers (a centred window keeps the input size); received "
                f"pool_sizes={pool_sizes!r}."
            )
        self.pool_sizes = tuple(int(k) for k in sizes)
        self.input_position = check.one_of(name, "input_position", input_position,
                                           set(INPUT_POSITIONS))
        self.data_format = check.data_format(
            name, data_format, self._gen.keras.backend.image_data_format()
        )
        self.pools = [
            self._gen.keras.layers.MaxPooling2D(k, strides=1, padding="same",
                                                data_format=self.data_format,
                                                dtype=self.dtype_policy, name=f"pool{k}")
            for k in self.pool_sizes
        ]

    @property
    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else 3

    def build(self, input_shape):
        self._input_channels = check.image_input_shape(
            type(self).__name__, input_shape, self.data_format
        )
        for pool in self.pools:
            pool.build(input_shape)
        super().build(input_shape)

    def call(self, inputs):
        check.same_channels(
            type(self).__name__, self._input_channels, inputs.shape, self.data_format
        )
        pooled = [pool(inputs) for pool in self.pools]
        maps = [inputs, *pooled] if self.input_position == "first" else [*pooled, inputs]
        return self._gen.ops.concatenate(maps, axis=self._channel_axis)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        if shape[self._channel_axis] is not None:
            shape[self._channel_axis] *= len(self.pool_sizes) + 1
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(pool_sizes=self.pool_sizes, input_position=self.input_position,
                      data_format=self.data_format)
        return config
