"""SpaceToDepthConv (SPD-Conv): ``conv_1(space_to_depth_b(x))``, downsampling by b, nothing lost."""

from keras_adastride.layers.main_conv import (
    CONV2D_ARGUMENTS,
    conv2d_call,
    main_conv_config,
    make_main_conv,
)

#: Conv2D arguments that make sense after space-to-depth (the conv always has stride 1).
SPD_CONV_ARGUMENTS = tuple(a for a in CONV2D_ARGUMENTS if a != "strides")


class SpaceToDepthConvLogic:
    """SPD-Conv: a :class:`SpaceToDepth` of ``block_size`` then a stride-1 ``Conv2D``.

    Takes the ``Conv2D`` arguments except ``strides`` (same meaning and defaults), plus
    ``block_size``, ``channel_order`` and ``pad_to_multiple`` of SpaceToDepth.
    Shape: (N, H, W, C) -> conv of (N, H/b, W/b, b²·C).
    """

    _gen = None  # the Keras generation, set by the concrete class
    _space_to_depth_class = None  # the SpaceToDepth class of that generation

    def __init__(
        self,
        filters,
        kernel_size,
        block_size=2,
        channel_order="tensorflow",
        pad_to_multiple=False,
        padding="valid",
        data_format=None,
        dilation_rate=(1, 1),
        groups=1,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        arguments = dict(locals())
        self.space_to_depth = self._space_to_depth_class(
            block_size=block_size,
            channel_order=channel_order,
            pad_to_multiple=pad_to_multiple,
            data_format=data_format,
            dtype=self.dtype_policy,
            name="space_to_depth",
        )
        self.data_format = self.space_to_depth.data_format
        arguments.update(strides=1, data_format=self.data_format)
        self.conv = make_main_conv(self, {key: arguments[key] for key in CONV2D_ARGUMENTS})

    def build(self, input_shape):
        self.space_to_depth.build(input_shape)
        self.conv.build(self.space_to_depth.compute_output_shape(input_shape))
        super().build(input_shape)

    def call(self, inputs):
        return conv2d_call(self._gen, self.conv, self.space_to_depth(inputs))

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(self.space_to_depth.compute_output_shape(input_shape))

    def get_config(self):
        config = super().get_config()
        config.update(main_conv_config(self, SPD_CONV_ARGUMENTS))
        config.update(
            block_size=self.space_to_depth.block_size,
            channel_order=self.space_to_depth.channel_order,
            pad_to_multiple=self.space_to_depth.pad_to_multiple,
        )
        return config
