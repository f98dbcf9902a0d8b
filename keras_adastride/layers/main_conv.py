"""The plain ``Conv2D`` that CAS and SpaceToDepthConv hold as ``layer.conv``: its arguments, their
checks, its creation, its half of ``get_config`` and how it is called."""

from keras_adastride import _validation as check

#: Conv2D arguments CAS and SpaceToDepthConv pass through unchanged (same meaning and defaults as Conv2D).
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


def conv2d_call(gen, conv, inputs, padding=None, data_format=None):
    """``conv(inputs)`` for a ``Conv2D`` sublayer, computed around two Keras 3 (3.15) TensorFlow
    backend problems; the result is the same.

    - ``ops.add`` turns ``x + bias.reshape(1, C, 1, 1)`` into an NHWC ``bias_add`` whenever
      ``x``'s last axis also has size C: a ``channels_first`` Conv2D whose output width equals
      ``filters`` adds its bias along the width. The bias is added here with the tensor's ``+``
      (and a ``channels_first`` conv runs through ``gen.ops``, channels-last underneath:
      TensorFlow's CPU kernels without oneDNN refuse NCHW).
    - Every grouped conv runs through ``tf.function(jit_compile=True)``, which leaves
      ``_XlaMustCompile`` in exported graphs (TF Serving without XLA refuses them). Here a grouped
      conv is one conv per group, concatenated, and one with a single input channel per group
      (groups = channels) one depthwise conv, its kernel ``(kh, kw, 1, C·m)`` read as
      ``(kh, kw, C, m)``: exact, and free of XLA.

    ``padding`` / ``data_format``: run the conv's weights with this padding / on inputs in this
    layout instead of the conv's own (sparse execution: ``valid`` on channels-last windows).
    """
    keras3_tf = gen.name == "keras3" and gen.keras.backend.backend() == "tensorflow"
    overridden = padding is not None or data_format is not None
    data_format = data_format or conv.data_format
    channels_first = data_format == "channels_first"
    if not overridden and (not keras3_tf or (conv.groups == 1 and not channels_first)):
        return conv(inputs)
    ops = gen.ops
    geometry = dict(
        strides=conv.strides,
        padding=padding or conv.padding,
        data_format=data_format,
        dilation_rate=conv.dilation_rate,
    )
    axis = 1 if channels_first else -1
    if conv.groups == 1:
        outputs = ops.conv(inputs, conv.kernel, **geometry)
    elif conv.kernel.shape[2] == 1:  # groups == input channels: a depthwise conv
        kernel = ops.reshape(conv.kernel, (*conv.kernel.shape[:2], conv.groups, -1))
        outputs = ops.depthwise_conv(inputs, kernel, **geometry)
    else:
        pieces = zip(ops.split(inputs, conv.groups, axis=axis),
                     ops.split(conv.kernel, conv.groups, axis=-1))
        outputs = ops.concatenate([ops.conv(x, k, **geometry) for x, k in pieces], axis=axis)
    if conv.use_bias:
        bias_shape = (1, -1, 1, 1) if channels_first else (1, 1, 1, -1)
        outputs = outputs + ops.reshape(conv.bias, bias_shape)
    return conv.activation(outputs)


def make_main_conv(layer, arguments):
    """Check ``arguments`` (a dict keyed by :data:`CONV2D_ARGUMENTS`) and create ``layer.conv``'s
    ``Conv2D`` with the layer's dtype policy."""
    validate_conv_arguments(
        type(layer).__name__,
        *(arguments[key] for key in
          ("filters", "kernel_size", "strides", "padding", "dilation_rate", "groups")),
    )
    return layer._gen.keras.layers.Conv2D(**arguments, dtype=layer.dtype_policy, name="conv")


def main_conv_config(layer, keys):
    """The ``keys`` of ``layer.conv``'s config, plus the host layer's activity regularizer."""
    conv_config = layer.conv.get_config()
    config = {key: conv_config[key] for key in keys}
    config["activity_regularizer"] = layer._gen.keras.regularizers.serialize(
        layer.activity_regularizer
    )
    return config
