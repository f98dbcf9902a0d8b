"""CAS, convolution with adaptive stride: ``activation(conv_S(x)) ⊙ gate(x)``."""

from keras_adastride import _validation as check
from keras_adastride.layers.adaptive_stride import (
    GATE_ARGUMENTS,
    SPARSE_ARGUMENTS,
    AdaptiveStrideLogic,
)
from keras_adastride.layers.main_conv import (
    CONV2D_ARGUMENTS,
    conv2d_call,
    main_conv_config,
    make_main_conv,
)


class CASLogic(AdaptiveStrideLogic):
    """Convolution with adaptive stride (2-D).

    ``outputs = activation(conv2d(x; strides=S)) * gate(x)``, shape as ``Conv2D``'s output.
    Takes every ``keras.layers.Conv2D`` argument with the same meaning and defaults, plus the
    gate arguments (see :class:`AdaptiveStrideLogic`). ``strides`` is the fixed stride S of the
    initial map; S = 1 is the paper's pure form. With ``gate_init="identity"`` the layer starts as
    the ``Conv2D`` it replaces.
    """

    #: when to compute the gate's first conv inside the main conv (see :meth:`call`): "training"
    #: (``training=True`` calls only), True (every dense call) or False (never); not a config entry.
    fuse_gate_conv = "training"

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
        sparse_inference=False,
        sparse_block_size=8,
        **kwargs,
    ):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        arguments = dict(locals())
        self.conv = make_main_conv(self, {key: arguments[key] for key in CONV2D_ARGUMENTS})
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
            **{key: arguments[key] for key in GATE_ARGUMENTS},
        )
        self._init_sparse(**{key: arguments[key] for key in SPARSE_ARGUMENTS})

    def _build_main(self, input_shape):
        if self._input_channels % self.conv.groups:
            raise ValueError(
                f"{type(self).__name__}: the input channel count ({self._input_channels}) must be "
                f"divisible by `groups`; received groups={self.conv.groups}."
            )
        self.conv.build(input_shape)

    def call(self, inputs, training=None):
        """``activation(conv_S(x)) * gate(x)``; in training, the gate's first conv fused into the
        main one.

        Both convs read ``x`` with the same kernel size, strides, padding and dilation, so one
        conv with the two kernels concatenated on output channels computes both, then splits:
        one pass over the input instead of two, and above all one input gradient. At inference
        the split costs more than the second pass saves (on a CPU the separate gate conv is 0.86x
        the fused one at stride 1, 0.94-0.99x at stride 2: benchmarks/README.md), so by default
        (``fuse_gate_conv = "training"``) only ``training=True`` calls fuse. ``groups > 1`` keeps
        them apart, and so does ``fuse_gate_conv = False`` (set by the QAT config: TFLite cannot
        fold two fake-quantized kernels through the concat). The result equals
        ``conv(x) * gate(x)`` either way.
        """
        conv = self.conv
        fuse = self.fuse_gate_conv is True or (
            self.fuse_gate_conv == "training" and training is True
        )
        if conv.groups != 1 or not fuse or self._runs_sparse(training):
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
        pre_activation, gate = self.gate.run_stack(
            first_gate_conv, training=training, after_first_conv=True
        )
        if self.gate.target_stride is not None:
            self.add_loss(self.gate.target_stride_loss(pre_activation))
        return ops.multiply(initial, gate)

    def initial_map(self, inputs):
        """The fixed-stride result ``activation(conv_S(x))`` before gating."""
        return conv2d_call(self._gen, self.conv, inputs)

    def _sparse_main(self, windows, valid):
        """The conv, ``valid``, on channels-last windows (zeros where ``valid`` is False)."""
        if valid is not None:
            windows = windows * self._gen.ops.cast(valid, windows.dtype)
        return conv2d_call(self._gen, self.conv, windows, padding="valid",
                           data_format="channels_last")

    def _main_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(main_conv_config(self, CONV2D_ARGUMENTS))
        return config
