"""NumPy loop references for the pooling kinds (no keras_adastride code): every window is cut out
of the input by index arithmetic, padding left out, and reduced with NumPy."""

import numpy as np

from layer_references import from_nhwc, to_nhwc


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _axis_windows(size, kernel, stride, padding):
    """Per output index: the input indices of its window (TensorFlow's 'same' split)."""
    if padding == "valid":
        out, top = (size - kernel) // stride + 1, 0
    else:
        out = -(-size // stride)
        top = max((out - 1) * stride + kernel - size, 0) // 2
    return [[r for r in range(i * stride - top, i * stride - top + kernel) if 0 <= r < size]
            for i in range(out)]


def window_reduce(x, reduce, pool_size, strides=None, padding="valid",
                  data_format="channels_last", per_output=None):
    """``reduce(pixels)`` (pixels: 1-D, the window's input pixels, row-major) per window and
    channel; ``reduce(pixels, v)`` with ``v`` the entry of ``per_output`` (an array of the
    output's shape) at that output position when given."""
    pool_size = _pair(pool_size)
    strides = pool_size if strides is None else _pair(strides)
    x = to_nhwc(np.asarray(x, np.float64), data_format)
    extra = None if per_output is None else to_nhwc(np.asarray(per_output), data_format)
    rows = _axis_windows(x.shape[1], pool_size[0], strides[0], padding)
    cols = _axis_windows(x.shape[2], pool_size[1], strides[1], padding)
    out = np.zeros((x.shape[0], len(rows), len(cols), x.shape[3]))
    for i, r in enumerate(rows):
        for j, c in enumerate(cols):
            window = x[:, r][:, :, c]  # (N, len(r), len(c), C)
            pixels = window.reshape(x.shape[0], -1, x.shape[3])
            for n in range(x.shape[0]):
                for ch in range(x.shape[3]):
                    args = () if extra is None else (extra[n, i, j, ch],)
                    out[n, i, j, ch] = reduce(pixels[n, :, ch], *args)
    return from_nhwc(out, data_format)


def stochastic_expectation(pixels):
    """Zeiler & Fergus's inference value: sum a² / sum a of a = relu(pixels) (0 if all zero)."""
    a = np.maximum(pixels, 0)
    return float((a * a).sum() / a.sum()) if a.sum() > 0 else 0.0


def stochastic_draw(pixels, u):
    """The activation drawn by the uniform ``u``: the first k with cumsum(a)_k > u·sum(a)."""
    a = np.maximum(pixels, 0)
    if a.sum() == 0:
        return 0.0
    return float(a[np.argmax(np.cumsum(a) > u * a.sum())])


POOL_REDUCERS = {
    "max": np.max,
    "average": np.mean,
    "median": np.median,
    "stochastic": stochastic_expectation,
}


def pas_mode_reference(x, mode, **geometry):
    """PAS's initial map for ``pool_mode`` (stochastic: the inference value)."""
    if mode in POOL_REDUCERS:
        return window_reduce(x, POOL_REDUCERS[mode], **geometry)
    average = window_reduce(x, np.mean, **geometry)
    maximum = window_reduce(x, np.max, **geometry)
    if mode == "avg_max_add":
        return average + maximum
    if mode == "avg_max_mean":
        return 0.5 * (average + maximum)
    axis = 1 if geometry.get("data_format") == "channels_first" else -1
    return np.concatenate([average, maximum], axis=axis)
