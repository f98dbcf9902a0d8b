"""What CAS and PAS share: ``output = initial_map(x) ⊙ gate(x)``.

A subclass creates its main op in ``__init__`` and implements ``_build_main``, ``initial_map`` and
``_main_output_shape``; this base owns the stride gate, the product, the effective-stride report
and the gate half of ``get_config``.
"""

from keras_adastride import _validation as check
from keras_adastride.layers.stride_gate import (
    GATE_ACTIVATIONS,
    GATE_INITIALIZATIONS,
    _tensorflow_backend,
)

GATE_CHANNELS = ("single", "per_channel")

#: The gate arguments CAS and PAS take (and pass to :meth:`AdaptiveStrideLogic._init_gate`).
GATE_ARGUMENTS = (
    "gate_width",
    "gate_depth",
    "gate_channels",
    "gate_activation",
    "gate_init",
    "gate_hidden_kernel_size",
    "gate_jit_compile",
    "target_stride",
    "target_stride_weight",
)
#: The sparse-execution arguments CAS and PAS take (see :meth:`AdaptiveStrideLogic._init_sparse`).
SPARSE_ARGUMENTS = ("sparse_inference", "sparse_block_size")


class AdaptiveStrideLogic:
    """Base of CAS and PAS. See :class:`StrideGateLogic` for the gate arguments.

    Gate arguments (prefixed ``gate_`` on CAS/PAS):
        gate_width, gate_depth, gate_activation, target_stride, target_stride_weight: as on the
            stride gate (``width``, ``depth``, ``activation``, ...).
        gate_channels: "single" (one spatial gate broadcast over channels, the paper's Figure 10)
            or "per_channel" (one gate per output channel).
        gate_init: "identity" (the layer starts exactly as the plain conv/pool) or "random".
        gate_hidden_kernel_size: kernel of the gate's stride-1 convs (``hidden_kernel_size``).
        gate_jit_compile: compile the gate with XLA: "auto" (only where a GPU is present), True or
            False (``jit_compile`` of the stride gate; never in exported graphs).

    Sparse execution (inference only; ``training=True`` always runs dense):
        sparse_inference: False (dense), True, or "auto". True: compute the gate first, then the
            main op only on the ``sparse_block_size`` x ``sparse_block_size`` tiles of output
            positions where some gate value is non-zero (gathered across the whole batch), and
            zeros elsewhere: the same output as dense, computed for the kept tiles only. "auto":
            sparse when at most ``sparse_execution.BREAK_EVEN_FRACTION`` of the tiles are kept,
            else dense (a ``tf.cond`` in the graph). TensorFlow backend and ``tf_keras`` only; on
            JAX and PyTorch the layer runs dense. See docs/performance.md.
        sparse_block_size: tile side b in output positions (default 8).
    """

    _gen = None  # the Keras generation, set by the concrete class
    _gate_class = None  # the StrideGate class of that generation

    def _init_gate(
        self,
        *,
        geometry,
        per_channel_count,
        gate_width,
        gate_depth,
        gate_channels,
        gate_activation,
        gate_init,
        gate_hidden_kernel_size,
        gate_jit_compile,
        target_stride,
        target_stride_weight,
    ):
        """Create the gate; ``geometry`` is the main op's kernel/stride/padding/dilation/format."""
        name = type(self).__name__
        self.gate_channels = check.one_of(name, "gate_channels", gate_channels, set(GATE_CHANNELS))
        # The stride gate checks these again, but under its own names (width, activation, ...):
        # check them first so the error names the argument the caller passed.
        for argument, value in (("gate_width", gate_width), ("gate_depth", gate_depth),
                                ("gate_hidden_kernel_size", gate_hidden_kernel_size)):
            check.positive_int(name, argument, value)
        activation = check.one_of(name, "gate_activation", gate_activation, set(GATE_ACTIVATIONS))
        init = check.one_of(name, "gate_init", gate_init, set(GATE_INITIALIZATIONS))
        if init == "identity" and GATE_ACTIVATIONS[activation][1] is None:
            raise ValueError(
                f"{name}: gate_init='identity' needs a gate activation that reaches exactly 1; "
                f"received gate_activation={gate_activation!r}. Use gate_init='random' or one of "
                f"{sorted(k for k, v in GATE_ACTIVATIONS.items() if v[1] is not None)}."
            )
        if not (isinstance(gate_jit_compile, bool) or gate_jit_compile == "auto"):
            raise ValueError(
                f"{name}: argument `gate_jit_compile` must be True, False or 'auto'; "
                f"received gate_jit_compile={gate_jit_compile!r}."
            )
        self.gate = self._gate_class(
            **geometry,
            channels=1 if self.gate_channels == "single" else per_channel_count,
            width=gate_width,
            depth=gate_depth,
            activation=gate_activation,
            initialization=gate_init,
            hidden_kernel_size=gate_hidden_kernel_size,
            jit_compile=gate_jit_compile,
            target_stride=target_stride,
            target_stride_weight=target_stride_weight,
            dtype=self.dtype_policy,
            name="gate",
        )

    def _init_sparse(self, sparse_inference, sparse_block_size):
        name = type(self).__name__
        if not (sparse_inference is True or sparse_inference is False
                or (isinstance(sparse_inference, str) and sparse_inference == "auto")):
            raise ValueError(
                f"{name}: argument `sparse_inference` must be False, True or 'auto'; "
                f"received sparse_inference={sparse_inference!r}."
            )
        self.sparse_inference = sparse_inference
        self.sparse_block_size = check.positive_int(name, "sparse_block_size", sparse_block_size)

    def _runs_sparse(self, training):
        """Whether this call takes the sparse path: asked for, at inference, on TensorFlow."""
        return (self.sparse_inference is not False and (training is None or training is False)
                and _tensorflow_backend(self._gen))

    @property
    def _channel_axis(self):
        return 1 if self.data_format == "channels_first" else -1

    def build(self, input_shape):
        self._input_channels = check.image_input_shape(
            type(self).__name__, input_shape, self.data_format
        )
        self._build_main(input_shape)
        self.gate.build(input_shape)
        super().build(input_shape)

    def call(self, inputs, training=None):
        check.same_channels(
            type(self).__name__, self._input_channels, inputs.shape, self.data_format
        )
        gate = self._expand_gate(self.gate(inputs, training=training))
        if self._runs_sparse(training):
            return self._sparse_call(inputs, gate)
        return self._gen.ops.multiply(self.initial_map(inputs), gate)

    def _sparse_call(self, inputs, gate):
        """``initial_map(inputs) * gate`` on the kept tiles only (see ``sparse_execution``)."""
        from keras_adastride.layers import sparse_execution  # TensorFlow only

        output_shape = self.compute_output_shape(tuple(inputs.shape))
        outputs = sparse_execution.gated_sparse(
            inputs,
            gate,
            self._sparse_main,
            channels=output_shape[self._channel_axis],
            kernel_size=self.gate.kernel_size,
            strides=self.gate.strides,
            dilation_rate=self.gate.dilation_rate,
            padding=self.gate.padding,
            data_format=self.data_format,
            block_size=self.sparse_block_size,
            break_even=(sparse_execution.BREAK_EVEN_FRACTION
                        if self.sparse_inference == "auto" else None),
            dense=lambda: self._gen.ops.multiply(self.initial_map(inputs), gate),
        )
        outputs.set_shape(output_shape)
        return outputs

    def _expand_gate(self, gate):
        """Hook for a main op whose channels are a multiple of the gate's (PAS concat)."""
        return gate

    def gate_map(self, inputs):
        """The gate map the layer multiplies its initial map by (the paper's mask feature map)."""
        if not self.built:  # build the whole layer, not the gate alone
            self.build(tuple(inputs.shape))
        return self.gate(inputs)

    def effective_stride(self, inputs):
        """Effective stride on a batch: ``S * sqrt(positions / kept positions)``."""
        return self.gate.effective_stride(self.gate_map(inputs))

    def compute_output_shape(self, input_shape):
        return self._main_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        gate = self.gate
        config.update(
            gate_width=gate.width,
            gate_depth=gate.depth,
            gate_channels=self.gate_channels,
            gate_activation=gate.activation,
            gate_init=gate.initialization,
            gate_hidden_kernel_size=gate.hidden_kernel_size,
            gate_jit_compile=gate.jit_compile,
            target_stride=gate.target_stride,
            target_stride_weight=gate.target_stride_weight,
            sparse_inference=self.sparse_inference,
            sparse_block_size=self.sparse_block_size,
        )
        return config
