"""The stride gate: the small conv branch that computes the paper's "mask feature map".

Keras already uses "mask" for padding masks (``compute_mask``, ``supports_masking``), so the
package calls the branch a *gate* and its output a *gate map*.

    g(x) = act(conv_depth(relu(... relu(conv_1(x)))))

``conv_1`` has the main op's kernel size, strides, padding and dilation, so ``g(x)`` has exactly the
spatial size of the conv/pool output for every input size; the other convs are stride 1, ``same``
padding, ``hidden_kernel_size`` wide. Shapes: ``(N, H, W, C) -> (N, H', W', channels)``
(channels_last). A zero in the gate map drops that output position ("stride + 1" there).
"""

import functools
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


def gate_stack(
    ops, x, first_kernel, first_bias, kernels, biases, *, first_conv, data_format, activation,
    observers=None,
):
    """The gate's arithmetic, a pure function of its tensors (what XLA compiles).

    Returns ``(pre_activation, gate_map)``: the last conv's output ``z`` and ``act(z)``.

    ``x`` is the gate input when ``first_kernel`` is given, else the first conv's output, bias
    included (a CAS that fused that conv into its main conv). ``kernels``, ``biases``: the
    stride-1 convs after the first; ``first_conv``: the first conv's strides, padding, dilation.
    ``observers``: None, or callables applied to each hidden ReLU output, to the last
    pre-activation and to the gate map, in that order (``depth + 1`` of them: QAT's fake
    quantization, ``keras_adastride.tfmot``).
    """
    observe = (lambda i, t: t) if observers is None else (lambda i, t: observers[i](t))  # noqa: E731
    bias_shape = (1, -1, 1, 1) if data_format == "channels_first" else (1, 1, 1, -1)
    hidden = x
    if first_kernel is not None:
        hidden = ops.conv(hidden, first_kernel, data_format=data_format, **first_conv)
        hidden = hidden + ops.reshape(first_bias, bias_shape)
    for i, (kernel, bias) in enumerate(zip(kernels, biases)):
        hidden = ops.conv(
            observe(i, ops.relu(hidden)), kernel, strides=1, padding="same",
            data_format=data_format, dilation_rate=1,
        )
        hidden = hidden + ops.reshape(bias, bias_shape)
    hidden = observe(len(kernels), hidden)
    return hidden, observe(len(kernels) + 1, GATE_ACTIVATIONS[activation][0](ops, hidden))


class _CompiledGate:
    """Holds the XLA-compiled :func:`gate_stack` of one gate.

    A plain object on purpose: a ``tf.function`` stored directly on a layer would be found and
    written by ``tf.saved_model.save``, ``_XlaMustCompile`` and all.
    """

    def __init__(self, **static):
        self.static = static
        self.function = None

    def __call__(self, ops, *args):
        if self.function is None:
            import tensorflow as tf

            self.function = tf.function(
                functools.partial(gate_stack, ops, **self.static),
                jit_compile=True,
                autograph=False,
            )
        return self.function(*args)


class StrideGateLogic:
    """Stride gate (mask branch) shared by CAS and PAS; also usable alone.

    Args:
        kernel_size, strides, padding, dilation_rate, data_format: geometry of the main op (the
            conv or pool this gate multiplies); the first gate conv copies it.
        channels: gate-map channels: 1 (a spatial gate broadcast over channels), an int, or None
            for one per input channel.
        width: channels of the hidden convs (small: the gate is overhead).
        depth: number of convs (the paper uses 3).
        hidden_kernel_size: kernel of the stride-1 convs after the first (default 1: the paper's
            3x3 costs CAS about 0.15 more time than Conv2D in training; benchmarks/README.md).
        activation: final activation: "relu" (paper; exact zeros), "relu6" (zeros, bounded),
            "scaled_sigmoid" (12·sigmoid, LIP's bounded gate), "softplus", "sigmoid".
        initialization: "identity" (last conv zero-filled, bias set so the gate is exactly 1:
            the host layer starts as the plain conv/pool) or "random".
        jit_compile: compile the gate with XLA (TensorFlow backends): True, False, or "auto" (on
            only where TensorFlow sees a GPU; XLA makes these small convs slower on CPU). Only
            eager calls and ``training=True`` calls are compiled, never a trace made while saving:
            exported graphs (``model.export``, ``tf.saved_model.save``) carry no XLA attribute.
            Ignored by the JAX backend (which compiles everything) and by PyTorch.
        target_stride: if set, a budget: the gate is pulled to keep at most 1/target_stride² of
            its positions (effective stride → strides · target_stride) by a loss added to the
            model losses (:meth:`target_stride_loss`); which positions it keeps, it learns.
        kernel_initializer: initializer of the randomly initialised kernels.
    """

    _gen = None  # the Keras generation, set by the concrete class
    #: None, or callables for gate_stack's ``observers`` (set by the tf_keras QAT config); never
    #: compiled with XLA.
    activation_observers = None

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
        hidden_kernel_size=1,
        activation="relu",
        initialization="identity",
        target_stride=None,
        target_stride_weight=0.1,
        kernel_initializer="glorot_uniform",
        jit_compile="auto",
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
        if not (isinstance(jit_compile, bool) or jit_compile == "auto"):
            raise ValueError(
                f"{name}: argument `jit_compile` must be True, False or 'auto'; "
                f"received jit_compile={jit_compile!r}."
            )
        self.jit_compile = jit_compile
        self._xla_gate = _CompiledGate(
            first_conv=dict(
                strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate
            ),
            data_format=self.data_format,
            activation=self.activation,
        )
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
                    # A fresh copy per kernel: an unseeded tf_keras initializer repeats its values.
                    initializer="zeros" if identity else initializers.get(
                        initializers.serialize(self.kernel_initializer)
                    ),
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

    def call(self, inputs, training=None):
        """Gate map ``g(inputs)``: shape of the main op's output, ``channels`` channels."""
        check.same_channels(
            type(self).__name__, self._input_channels, inputs.shape, self.data_format
        )
        pre_activation, gate = self.run_stack(inputs, training=training)
        if self.target_stride is not None:
            self.add_loss(self.target_stride_loss(pre_activation))
        return gate

    def run_stack(self, x, training=None, after_first_conv=False):
        """:func:`gate_stack` on this gate's weights, XLA-compiled when :meth:`compiles` says so.

        Returns ``(pre_activation, gate_map)``.

        ``after_first_conv=True``: ``x`` is already the first conv's output, bias included.
        """
        first = (None, None) if after_first_conv else (self.kernels[0], self.biases[0])
        weights = (*first, list(self.kernels[1:]), list(self.biases[1:]))
        if self.activation_observers is not None or not self.compiles(training):
            return gate_stack(
                self._gen.ops, x, *weights, observers=self.activation_observers,
                **self._xla_gate.static,
            )
        import tensorflow as tf

        # Variables are read here (under the caller's autocast scope) and enter XLA as tensors.
        weights = tf.nest.map_structure(lambda v: v if v is None else tf.convert_to_tensor(v), weights)
        return self._xla_gate(self._gen.ops, x, *weights)

    def compiles(self, training=None):
        """Whether a call now runs the gate through XLA (see ``jit_compile``)."""
        if self.jit_compile is False or not _tensorflow_backend(self._gen):
            return False
        import tensorflow as tf
        from tensorflow.python.saved_model import save_context

        if self.jit_compile == "auto" and not tf.config.list_physical_devices("GPU"):
            return False
        if save_context.in_save_context():
            return False
        return training is True or not tf.inside_function()

    def target_stride_loss(self, pre_activation):
        """Hinge loss pulling each image's kept share of positions to 1/target_stride².

        A position is kept where the gate's pre-activation ``z`` is > 0 (exactly so for relu and
        relu6). Per image, the ``n`` entries of ``z`` are sorted; the lowest
        ``m = ⌊n·(1 - 1/target_stride²)⌋`` should be ≤ 0 (dropped), the others > 0 (kept)::

            loss = weight · mean over images of
                   (Σ_lowest relu(z) + Σ_others relu(-z)) / (n · mean|z|)

        with ``mean|z|`` held constant (the loss does not depend on the gate's scale). It is 0
        exactly when the budget is met; it pushes at full strength from the identity start
        (z = 1 everywhere), and it reaches dropped positions too (z < 0 still has a gradient), so
        a gate that dropped too much is pulled back. The gate chooses *which* positions to keep.
        """
        ops = self._gen.ops
        z = ops.cast(pre_activation, "float32")
        ranked = ops.sort(ops.reshape(z, (ops.shape(z)[0], -1)), axis=-1)
        positions = ops.shape(ranked)[1]
        rank_share = ops.cast(ops.arange(positions) + 1, "float32") / ops.cast(positions, "float32")
        dropped = ops.cast(rank_share <= 1.0 - 1.0 / self.target_stride**2, "float32")
        violation = dropped * ops.relu(ranked) + (1.0 - dropped) * ops.relu(-ranked)
        scale = ops.stop_gradient(ops.mean(ops.abs(ranked), axis=-1)) + 1e-6
        return self.target_stride_weight * ops.mean(ops.mean(violation, axis=-1) / scale)

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
            jit_compile=self.jit_compile,
        )
        return config


def _tensorflow_backend(gen):
    """Whether ``gen`` runs on TensorFlow (``tf_keras``, or Keras 3 with that backend)."""
    return gen.name == "tf_keras" or gen.keras.backend.backend() == "tensorflow"


def _conv_output_length(size, kernel, stride, padding, dilation):
    """Output length of a conv/pool along one axis (None stays None)."""
    if size is None:
        return None
    if padding == "same":
        return -(-size // stride)
    effective_kernel = (kernel - 1) * dilation + 1
    return max(0, (size - effective_kernel) // stride + 1)
