"""CAS, convolution with adaptive stride: ``activation(conv_S(x)) ⊙ gate(x)``."""

from keras_adastride import _validation as check
from keras_adastride.layers.adaptive_stride import AdaptiveStrideLogic

#: Conv2D arguments CAS passes through unchanged (same meaning and defaults as Conv2D).
CONV2D_ARGUMENTS = (
    "filters",
    "kernel_size",
    "strides",
    "padding",
    "data_format",
    "dilation_rate",
    "groups",
    "activation",
    "use_bias",
    "kernel_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "bias_constraint",
)


def validate_conv_arguments(layer, filters, kernel_size, strides, padding, dilation_rate, groups):
    """Check the Conv2D arguments whose bad values Conv2D would only reject deep inside."""
    check.positive_int(layer, "filters", filters)
    check.positive_pair(layer, "kernel_size", kernel_size)
    check.positive_pair(layer, "strides", strides)
    check.positive_pair(layer, "dilation_rate", dilation_rate)
    check.positive_int(layer, "groups", groups)
    check.one_of(layer, "padding", padding, {"valid", "same"})


def conv2d_call(gen, conv, inputs):
    """``conv(inputs)`` for a ``Conv2D`` sublayer, computed around two Keras 3 (3.15) TensorFlow
    backend problems; the result is the same.

    - ``ops.add`` turns ``x + bias.reshape(1, C, 1, 1)`` into an NHWC ``bias_add`` whenever
      ``x``'s last axis also has size C: a ``channels_first`` Conv2D whose output width equals
      ``filters`` adds its bias along the width. The bias is added here with the tensor's ``+``.
    - Every grouped conv runs through ``tf.function(jit_compile=True)``, which leaves
      ``_XlaMustCompile`` in exported graphs (TF Serving without XLA refuses them). Here a grouped
      conv is one conv per group, concatenated: exact, and free of XLA.
    """
    keras3_tf = gen.name == "keras3" and gen.keras.backend.backend() == "tensorflow"
    channels_first = conv.data_format == "channels_first"
    if not keras3_tf or (conv.groups == 1 and not (channels_first and conv.use_bias)):
        return conv(inputs)
    ops = gen.ops
    geometry = dict(
        strides=conv.strides,
        padding=conv.padding,
        data_format=conv.data_format,
        dilation_rate=conv.dilation_rate,
    )
    axis = 1 if channels_first else -1
    if conv.groups == 1:
        outputs = ops.conv(inputs, conv.kernel, **geometry)
    else:
        pieces = zip(ops.split(inputs, conv.groups, axis=axis),
                     ops.split(conv.kernel, conv.groups, axis=-1))
        outputs = ops.concatenate([ops.conv(x, k, **geometry) for x, k in pieces], axis=axis)
    if conv.use_bias:
        bias_shape = (1, -1, 1, 1) if channels_first else (1, 1, 1, -1)
        outputs = outputs + ops.reshape(conv.bias, bias_shape)
    return conv.activation(outputs)


class CASLogic(AdaptiveStrideLogic):
    """Convolution with adaptive stride (2-D).

    ``outputs = activation(conv2d(x; strides=S)) * gate(x)``, shape as ``Conv2D``'s output.
    Takes every ``keras.layers.Conv2D`` argument with the same meaning and defaults, plus the
    gate arguments (see :class:`AdaptiveStrideLogic`). ``strides`` is the fixed stride S of the
    initial map; S = 1 is the paper's pure form. With ``gate_init="identity"`` the layer starts as
    the ``Conv2D`` it replaces.
    """

    #: compute the gate's first conv inside the main conv (see :meth:`call`); not a config entry.
    fuse_gate_conv = True

    def __init__(
        self,
        filters,
        kernel_size,
        strides=(1, 1),
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
        gate_width=8,
        gate_depth=3,
        gate_channels="single",
        gate_activation="relu",
        gate_init="identity",
        gate_hidden_kernel_size=1,
        gate_jit_compile="auto",
        target_stride=None,
        target_stride_weight=0.1,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        validate_conv_arguments(
            type(self).__name__, filters, kernel_size, strides, padding, dilation_rate, groups
        )
        self.conv = self._gen.keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            groups=groups,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            dtype=self.dtype_policy,
            name="conv",
        )
        self.data_format = self.conv.data_format
        self._init_gate(
            geometry=dict(
                kernel_size=self.conv.kernel_size,
                strides=self.conv.strides,
                padding=self.conv.padding,
                dilation_rate=self.conv.dilation_rate,
                data_format=self.data_format,
            ),
            per_channel_count=filters,
            gate_width=gate_width,
            gate_depth=gate_depth,
            gate_channels=gate_channels,
            gate_activation=gate_activation,
            gate_init=gate_init,
            gate_hidden_kernel_size=gate_hidden_kernel_size,
            gate_jit_compile=gate_jit_compile,
            target_stride=target_stride,
            target_stride_weight=target_stride_weight,
        )

    def _build_main(self, input_shape):
        if self._input_channels % self.conv.groups:
            raise ValueError(
                f"{type(self).__name__}: the input channel count ({self._input_channels}) must be "
                f"divisible by `groups`; received groups={self.conv.groups}."
            )
        self.conv.build(input_shape)

    def call(self, inputs, training=None):
        """``activation(conv_S(x)) * gate(x)`` with the gate's first conv fused into the main one.

        Both convs read ``x`` with the same kernel size, strides, padding and dilation, so one
        conv with the two kernels concatenated on output channels computes both, then splits:
        one pass over the input instead of two (and one input gradient). ``groups > 1`` keeps them
        apart, and so does ``fuse_gate_conv = False`` (set by the QAT config: TFLite cannot fold
        two fake-quantized kernels through the concat). The result equals ``conv(x) * gate(x)``.
        """
        conv = self.conv
        if conv.groups != 1 or not self.fuse_gate_conv:
            return super().call(inputs, training=training)
        check.same_channels(
            type(self).__name__, self._input_channels, inputs.shape, self.data_format
        )
        ops = self._gen.ops
        both = ops.conv(
            inputs,
            ops.concatenate([conv.kernel, self.gate.kernels[0]], axis=-1),
            strides=conv.strides,
            padding=conv.padding,
            data_format=self.data_format,
            dilation_rate=conv.dilation_rate,
        )
        bias_shape = (1, -1, 1, 1) if self.data_format == "channels_first" else (1, 1, 1, -1)
        gate_bias = self.gate.biases[0]
        if conv.use_bias:  # one bias add for both, before the split (fuses with the conv)
            both = both + ops.reshape(ops.concatenate([conv.bias, gate_bias], axis=0), bias_shape)
        initial, first_gate_conv = ops.split(both, [conv.filters], axis=self._channel_axis)
        if not conv.use_bias:
            first_gate_conv = first_gate_conv + ops.reshape(gate_bias, bias_shape)
        initial = conv.activation(initial)
        gate = self.gate.run_stack(first_gate_conv, training=training, after_first_conv=True)
        if self.gate.target_stride is not None:
            self.add_loss(self.gate.target_stride_loss(gate))
        return ops.multiply(initial, gate)

    def initial_map(self, inputs):
        """The fixed-stride result ``activation(conv_S(x))`` before gating."""
        return conv2d_call(self._gen, self.conv, inputs)

    def _main_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        conv_config = self.conv.get_config()
        config.update({key: conv_config[key] for key in CONV2D_ARGUMENTS})
        config["activity_regularizer"] = self._gen.keras.regularizers.serialize(
            self.activity_regularizer
        )
        return config
