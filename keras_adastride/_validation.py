"""Argument and input checks shared by every layer: fail at once, name the argument and value."""

import numbers


def positive_int(layer, name, value):
    """Return ``value`` if it is an integer >= 1, else raise ``ValueError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f"{layer}: argument `{name}` must be a positive integer; received {name}={value!r}."
        )
    return int(value)


def int_at_least(layer, name, value, minimum):
    """Return ``value`` if it is an integer >= ``minimum``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"{layer}: argument `{name}` must be an integer >= {minimum}; "
            f"received {name}={value!r}."
        )
    return int(value)


def positive_pair(layer, name, value):
    """Normalise an int or a pair of ints to a tuple of two positive ints."""
    pair = (value, value) if isinstance(value, numbers.Integral) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    if len(pair) != 2 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in pair
    ):
        raise ValueError(
            f"{layer}: argument `{name}` must be a positive integer or a pair of positive "
            f"integers; received {name}={value!r}."
        )
    return tuple(int(v) for v in pair)


def one_of(layer, name, value, choices):
    """Return ``value`` (lower-cased if a string) if it is in ``choices``."""
    normalised = value.lower() if isinstance(value, str) else value
    if normalised not in choices:
        raise ValueError(
            f"{layer}: argument `{name}` must be one of {sorted(choices)}; "
            f"received {name}={value!r}."
        )
    return normalised


def positive_number(layer, name, value, allow_none=False):
    """Return ``value`` if it is a real number > 0 (or None when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
        raise ValueError(
            f"{layer}: argument `{name}` must be a number > 0; received {name}={value!r}."
        )
    return float(value)


def data_format(layer, value, default):
    """Resolve ``data_format`` (None means the Keras default) and check it."""
    return one_of(layer, "data_format", default if value is None else value,
                  {"channels_last", "channels_first"})


def pooling_geometry(layer, pool_size, strides, padding, requested_format, default_format):
    """``MaxPooling2D``'s arguments checked: (pool_size, strides, padding, data_format);
    ``strides=None`` means ``pool_size``, ``requested_format=None`` ``default_format``."""
    pool_size = positive_pair(layer, "pool_size", pool_size)
    strides = pool_size if strides is None else positive_pair(layer, "strides", strides)
    return (pool_size, strides, one_of(layer, "padding", padding, {"valid", "same"}),
            data_format(layer, requested_format, default_format))


def image_input_shape(layer, input_shape, data_format):
    """Check a rank-4 image shape with a known channel count; return the channel count."""
    shape = tuple(input_shape)
    if len(shape) != 4:
        raise ValueError(
            f"{layer}: `inputs` must be rank 4 (batch, height, width, channels for channels_last; "
            f"batch, channels, height, width for channels_first); received an input of shape "
            f"{shape} (rank {len(shape)})."
        )
    channels = shape[1] if data_format == "channels_first" else shape[-1]
    if channels is None:
        raise ValueError(
            f"{layer}: the channel dimension of `inputs` must be known; received an input of "
            f"shape {shape} with data_format={data_format!r}."
        )
    return int(channels)


def same_channels(layer, built_channels, inputs_shape, data_format):
    """After build, an input must keep the channel count the layer was built for."""
    shape = tuple(inputs_shape)
    if len(shape) != 4:
        image_input_shape(layer, shape, data_format)
    channels = shape[1] if data_format == "channels_first" else shape[-1]
    if channels is not None and int(channels) != built_channels:
        raise ValueError(
            f"{layer}: `inputs` has {channels} channels but the layer was built for "
            f"{built_channels}; received an input of shape {shape}."
        )
