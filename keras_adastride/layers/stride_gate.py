"""The stride gate: the small conv branch that computes the paper's "mask feature map".

Keras already uses "mask" for padding masks (``compute_mask``, ``supports_masking``), so the
package calls the branch a *gate* and its output a *gate map*.

    g(x) = act(conv_depth(relu(... relu(conv_1(x)))))

``conv_1`` has the main op's kernel size, strides, padding and dilation, so ``g(x)`` has exactly the
spatial size of the conv/pool output for every input size; the other convs are stride 1, ``same``
padding, ``hidden_kernel_size`` wide. Shapes: ``(N, H, W, C) -> (N, H', W', channels)``
(channels_last). A zero in the gate map drops that output position ("stride + 1" there).
"""

import math

import numpy as np

from keras_adastride import _validation as check

#: gate activation -> (function of ops and pre-activation, pre-activation giving exactly 1)
GATE_ACTIVATIONS = {
    "relu": (lambda ops, z: ops.relu(z), 1.0),
    "relu6": (lambda ops, z: ops.relu6(z), 1.0),
    # LIP's bounded gate: 12 * sigmoid, safe under float16.
    "scaled_sigmoid": (lambda ops, z: 12.0 * ops.sigmoid(z), -math.log(11.0)),
    "softplus": (lambda ops, z: ops.softplus(z), math.log(math.e - 1.0)),
    "sigmoid": (lambda ops, z: ops.sigmoid(z), None),
}
GATE_INITIALIZATIONS = ("identity", "random")


class StrideGateLogic:
    """Stride gate (mask branch) shared by CAS and PAS; also usable alone.

    Args:
        kernel_size, strides, padding, dilation_rate, data_format: geometry of the main op (the
            conv or pool this gate multiplies); the first gate conv copies it.
        channels: gate-map channels: 1 (a spatial gate broadcast over channels), an int, or None
            for one per input channel.
        width: channels of the hidden convs (small: the gate is overhead).
        depth: number of convs (the paper uses 3).
        hidden_kernel_size: kernel of the stride-1 convs after the first.
        activation: final activation: "relu" (paper; exact zeros), "relu6" (zeros, bounded),
            "scaled_sigmoid" (12·sigmoid, LIP's bounded gate), "softplus", "sigmoid".
        initialization: "identity" (last conv zero-filled, bias set so the gate is exactly 1:
            the host layer starts as the plain conv/pool) or "random".
        target_stride: if set, adds ``target_stride_weight * (kept - 1/target_stride**2)**2`` to
            the model losses, where ``kept`` is a soft fraction of non-zero gate entries.
        kernel_initializer: initializer of the randomly initialised kernels.
    """

    _gen = None  # the Keras generation, set by the concrete class

    def __init__(
        self,
        kernel_size,
        strides=1,
        padding="valid",
        dilation_rate=1,
        data_format=None,
        channels=1,
        width=8,
        depth=3,
        hidden_kernel_size=3,
        activation="relu",
        initialization="identity",
        target_stride=None,
        target_stride_weight=0.1,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.kernel_size = check.positive_pair(name, "kernel_size", kernel_size)
        self.strides = check.positive_pair(name, "strides", strides)
        self.padding = check.one_of(name, "padding", padding, {"valid", "same"})
        self.dilation_rate = check.positive_pair(name, "dilation_rate", dilation_rate)
        self.data_format = check.data_format(
            name, data_format, self._gen.keras.backend.image_data_format()
        )
        self.channels = None if channels is None else check.positive_int(name, "channels", channels)
        self.width = check.positive_int(name, "width", width)
        self.depth = check.positive_int(name, "depth", depth)
        self.hidden_kernel_size = check.positive_int(name, "hidden_kernel_size", hidden_kernel_size)
        self.activation = check.one_of(name, "activation", activation, set(GATE_ACTIVATIONS))
        self.initialization = check.one_of(
            name, "initialization", initialization, set(GATE_INITIALIZATIONS)
        )
        if self.initialization == "identity" and GATE_ACTIVATIONS[self.activation][1] is None:
            raise ValueError(
                f"{name}: initialization='identity' needs an activation that reaches exactly 1; "
                f"received activation={activation!r}. Use one of "
                f"{sorted(k for k, v in GATE_ACTIVATIONS.items() if v[1] is not None)}."
            )
        self.target_stride = check.positive_number(
            name, "target_stride", target_stride, allow_none=True
        )
        if self.target_stride is not None and self.target_stride < 1:
            raise ValueError(
                f"{name}: argument `target_stride` must be >= 1; received "
                f"target_stride={target_stride!r}."
            )
        self.target_stride_weight = check.positive_number(
            name, "target_stride_weight", target_stride_weight
        )
        self.kernel_initializer = self._gen.keras.initializers.get(kernel_initializer)
        self.kernels = []
        self.biases = []

    @property
    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def build(self, input_shape):
        in_channels = check.image_input_shape(type(self).__name__, input_shape, self.data_format)
        self._input_channels = in_channels
        out_channels = in_channels if self.channels is None else self.channels
        initializers = self._gen.keras.initializers
        widths = [in_channels] + [self.width] * (self.depth - 1) + [out_channels]
        for i in range(self.depth):
            kernel_hw = self.kernel_size if i == 0 else (self.hidden_kernel_size,) * 2
            last = i == self.depth - 1
            identity = last and self.initialization == "identity"
            bias_value = GATE_ACTIVATIONS[self.activation][1] if identity else 0.0
            self.kernels.append(
                self.add_weight(
                    name=f"kernel_{i}",
                    shape=(*kernel_hw, widths[i], widths[i + 1]),
                    initializer="zeros" if identity else self.kernel_initializer,
                )
            )
            self.biases.append(
                self.add_weight(
                    name=f"bias_{i}",
                    shape=(widths[i + 1],),
                    initializer=initializers.Constant(bias_value),
                )
            )
        super().build(input_shape)

    def call(self, inputs):
        """Gate map ``g(inputs)``: shape of the main op's output, ``channels`` channels."""
        check.same_channels(
            type(self).__name__, self._input_channels, inputs.shape, self.data_format
        )
        ops = self._gen.ops
        hidden = inputs
        bias_shape = (1, -1, 1, 1) if self.data_format == "channels_first" else (1, 1, 1, -1)
        for i, (kernel, bias) in enumerate(zip(self.kernels, self.biases)):
            first = i == 0
            hidden = ops.conv(
                hidden,
                kernel,
                strides=self.strides if first else 1,
                padding=self.padding if first else "same",
                data_format=self.data_format,
                dilation_rate=self.dilation_rate if first else 1,
            )
            hidden = hidden + ops.reshape(bias, bias_shape)
            if i < self.depth - 1:
                hidden = ops.relu(hidden)
        gate = GATE_ACTIVATIONS[self.activation][0](ops, hidden)
        if self.target_stride is not None:
            self.add_loss(self.target_stride_loss(gate))
        return gate

    def target_stride_loss(self, gate):
        """``weight * (soft_kept - 1/target_stride**2)**2``; soft_kept = mean(g / (g + 0.01))."""
        ops = self._gen.ops
        gate = ops.cast(gate, "float32")
        soft_kept = ops.mean(gate / (gate + 0.01))
        return self.target_stride_weight * ops.square(soft_kept - 1.0 / self.target_stride**2)

    def kept_fraction(self, gate):
        """Fraction of gate-map entries that are non-zero (kept positions)."""
        return float(np.mean(np.asarray(self._gen.ops.convert_to_numpy(gate)) > 0))

    def effective_stride(self, gate):
        """``S * sqrt(positions / kept positions)`` on a gate map (S: geometric mean of strides)."""
        kept = self.kept_fraction(gate)
        stride = math.sqrt(self.strides[0] * self.strides[1])
        return stride / math.sqrt(kept) if kept > 0 else math.inf

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        if self.data_format == "channels_first":
            batch, channels, rows, cols = shape
        else:
            batch, rows, cols, channels = shape
        rows, cols = (
            _conv_output_length(size, k, s, self.padding, d)
            for size, k, s, d in zip((rows, cols), self.kernel_size, self.strides, self.dilation_rate)
        )
        out_channels = channels if self.channels is None else self.channels
        if self.data_format == "channels_first":
            return (batch, out_channels, rows, cols)
        return (batch, rows, cols, out_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
            channels=self.channels,
            width=self.width,
            depth=self.depth,
            hidden_kernel_size=self.hidden_kernel_size,
            activation=self.activation,
            initialization=self.initialization,
            target_stride=self.target_stride,
            target_stride_weight=self.target_stride_weight,
            kernel_initializer=self._gen.keras.initializers.serialize(self.kernel_initializer),
        )
        return config


def _conv_output_length(size, kernel, stride, padding, dilation):
    """Output length of a conv/pool along one axis (None stays None)."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    effective_kernel = (kernel - 1) * dilation + 1
    return max(0, (size - effective_kernel) // stride + 1)
