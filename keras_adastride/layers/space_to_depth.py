"""SpaceToDepth: the block_size² phase sub-images of the input stacked on channels.

    (N, H, W, C) -> (N, H/b, W/b, b²·C)   (channels_last; H, W rounded up when padding)

Channel orders (phase (i, j) = rows i::b, columns j::b):
  "tensorflow": block index i·b + j, as ``tf.nn.space_to_depth`` / ``depth_to_space``;
  "focus":      block index j·b + i, as SPD-Conv and YOLOv5's Focus (x[::2, ::2], x[1::2, ::2],
                x[::2, 1::2], x[1::2, 1::2]), so weights ported from those models line up.
"""

from keras_adastride import _validation as check

CHANNEL_ORDERS = ("tensorflow", "focus")


class SpaceToDepthLogic:
    """Space-to-depth rearrangement; nothing is discarded.

    Args:
        block_size: b >= 2.
        channel_order: "tensorflow" or "focus" (see module docstring).
        pad_to_multiple: False: a height or width not divisible by b raises ``ValueError``;
            True: zero-pad bottom and right up to the next multiple of b.
        data_format: "channels_last" or "channels_first" (None: the Keras default).
    """

    _gen = None  # the Keras generation, set by the concrete class

    def __init__(
        self,
        block_size=2,
        channel_order="tensorflow",
        pad_to_multiple=False,
        data_format=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.block_size = check.int_at_least(name, "block_size", block_size, 2)
        self.channel_order = check.one_of(name, "channel_order", channel_order, set(CHANNEL_ORDERS))
        if not isinstance(pad_to_multiple, bool):
            raise ValueError(
                f"{name}: argument `pad_to_multiple` must be True or False; received "
                f"pad_to_multiple={pad_to_multiple!r}."
            )
        self.pad_to_multiple = pad_to_multiple
        self.data_format = check.data_format(
            name, data_format, self._gen.keras.backend.image_data_format()
        )

    @property
    def _spatial_axes(self):
        return (2, 3) if self.data_format == "channels_first" else (1, 2)

    def build(self, input_shape):
        self._input_channels = check.image_input_shape(
            type(self).__name__, input_shape, self.data_format
        )
        self._check_divisible(input_shape)
        super().build(input_shape)

    def _check_divisible(self, shape):
        if self.pad_to_multiple:
            return
        for axis, label in zip(self._spatial_axes, ("height", "width")):
            size = shape[axis]
            # None (unknown) and JAX's symbolic export sizes are checked at run time or not at all.
            if isinstance(size, int) and size % self.block_size:
                raise ValueError(
                    f"{type(self).__name__}: the input {label} ({size}) is not a multiple of "
                    f"`block_size`={self.block_size} and pad_to_multiple=False; received an "
                    f"input of shape {tuple(shape)}. Pass pad_to_multiple=True to zero-pad."
                )

    def _assert_divisible_at_run_time(self, inputs):
        """Sizes unknown until run time (a TensorFlow graph traced with None height/width):
        assert divisibility there, else the phase concat fails with an obscure shape error."""
        axes = [axis for axis in self._spatial_axes if inputs.shape[axis] is None]
        gen = self._gen
        if self.pad_to_multiple or not axes or not (
            gen.name == "tf_keras" or gen.keras.backend.backend() == "tensorflow"
        ):
            return inputs  # other backends trace with known shapes: build/call checked them
        import tensorflow as tf

        shape = tf.shape(inputs)
        asserts = [
            tf.debugging.assert_equal(
                shape[axis] % self.block_size, 0,
                message=f"{type(self).__name__}: the input {label} is not a multiple of "
                f"`block_size`={self.block_size} and pad_to_multiple=False. Pass "
                f"pad_to_multiple=True to zero-pad.",
            )
            for axis, label in zip(self._spatial_axes, ("height", "width")) if axis in axes
        ]
        with tf.control_dependencies(asserts):
            return tf.identity(inputs)

    def _pad_to_multiple(self, inputs):
        """Zero-pad bottom and right up to the next multiple of b, with constant pad widths.

        A known size gets exactly ``(-size) % b`` rows (none: no pad op). An unknown one gets
        ``b - 1`` rows, then is cropped to ``b·ceil(size/b)``: pad widths computed at run time
        would make the TFLite converter lose every dimension of the padded tensor (channels
        included), and a quantized conv after it then stays a TensorFlow op
        (``ERROR_NEEDS_FLEX_OPS``).
        """
        ops = self._gen.ops
        b = self.block_size
        shape = ops.shape(inputs)
        pad_width = [[0, 0] for _ in range(4)]
        crop = [slice(None)] * 4
        for axis in self._spatial_axes:
            if isinstance(shape[axis], int):
                pad_width[axis] = [0, (-shape[axis]) % b]
            else:
                pad_width[axis] = [0, b - 1]
                crop[axis] = slice(0, (shape[axis] + b - 1) // b * b)
        if any(width for _, width in pad_width):
            inputs = ops.pad(inputs, pad_width)
        if any(index != slice(None) for index in crop):
            inputs = inputs[tuple(crop)]
        return inputs

    def call(self, inputs):
        check.same_channels(
            type(self).__name__, self._input_channels, inputs.shape, self.data_format
        )
        self._check_divisible(tuple(inputs.shape))
        inputs = self._assert_divisible_at_run_time(inputs)
        ops = self._gen.ops
        b = self.block_size
        if self.pad_to_multiple:
            inputs = self._pad_to_multiple(inputs)
        channel_axis = 1 if self.data_format == "channels_first" else 3
        symbolic = any(_is_symbolic(inputs.shape[axis]) for axis in self._spatial_axes)
        phase = (self._symbolic_phases if symbolic else self._strided_phases)(inputs)
        if self.channel_order == "tensorflow":
            phases = [phase(i, j) for i in range(b) for j in range(b)]
        else:
            phases = [phase(i, j) for j in range(b) for i in range(b)]
        return ops.concatenate(phases, axis=channel_axis)

    def _strided_phases(self, inputs):
        """``phase(i, j)``: rows i::b, columns j::b."""
        b = self.block_size
        row_axis, col_axis = self._spatial_axes

        def phase(i, j):
            index = [slice(None)] * 4
            index[row_axis] = slice(i, None, b)
            index[col_axis] = slice(j, None, b)
            return inputs[tuple(index)]

        return phase

    def _symbolic_phases(self, inputs):
        """``phase(i, j)`` for JAX's export, which traces with symbolic sizes (batch, a, b, ...):
        it cannot prove that rows 0::b and 1::b of a symbolic height have one length, so each
        spatial axis is reshaped into (size // b, b) and phase (i, j) indexes the inner axes.
        (The reshape also rejects, at run time, a size that is not a multiple of b.)"""
        ops, b = self._gen.ops, self.block_size
        shape = ops.shape(inputs)
        split = []
        for axis in range(4):
            split += [shape[axis] // b, b] if axis in self._spatial_axes else [shape[axis]]
        blocks = ops.reshape(inputs, split)
        row_axis, col_axis = self._spatial_axes

        def phase(i, j):
            index = []
            for axis in range(4):
                chosen = {row_axis: i, col_axis: j}.get(axis)
                index += [slice(None)] if chosen is None else [slice(None), chosen]
            return blocks[tuple(index)]

        return phase

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        b = self.block_size
        for axis in self._spatial_axes:
            if shape[axis] is not None:
                shape[axis] = -(-shape[axis] // b) if self.pad_to_multiple else shape[axis] // b
        channel_axis = 1 if self.data_format == "channels_first" else 3
        if shape[channel_axis] is not None:
            shape[channel_axis] *= b * b
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            block_size=self.block_size,
            channel_order=self.channel_order,
            pad_to_multiple=self.pad_to_multiple,
            data_format=self.data_format,
        )
        return config


def _is_symbolic(size):
    """A size known only as an expression (JAX shape polymorphism), neither an int nor None."""
    return size is not None and not isinstance(size, int)
