"""Median pooling: the median of each pooling window.

    y[n, i, j, c] = median{x[n, i·s_h + a - top, j·s_w + b - left, c] : inside the image}

The median of an even number of values is the mean of the two middle ones (``numpy.median``);
windows that overhang the image (``padding="same"``) take the median of their pixels only. The
gradient reaches the middle value(s), as max pooling's reaches the maximum.
"""

from keras_adastride.layers.pooling.base import WindowPooling2DLogic
from keras_adastride.layers.pooling.selection import select_along_last_axis


def median_pool(ops, windows):
    """The median over the last axis of :class:`PoolWindows`, padding left out."""
    values, count = windows.values, windows.values.shape[-1]
    if windows.valid is None:
        ranked = ops.sort(values, axis=-1)
        if count % 2:
            return ranked[..., count // 2]
        # 0.5·a + 0.5·b rounds as (a + b) / 2 does, and cannot overflow float16.
        return 0.5 * ranked[..., count // 2 - 1] + 0.5 * ranked[..., count // 2]
    padding_last = ops.where(windows.valid, values, ops.full_like(values, float("inf")))
    ranked = ops.sort(padding_last, axis=-1)
    pixels = ops.sum(ops.cast(windows.valid, "int32"), axis=-1)
    lower = select_along_last_axis(ops, ranked, (pixels - 1) // 2)
    upper = select_along_last_axis(ops, ranked, pixels // 2)
    return 0.5 * lower + 0.5 * upper


class MedianPooling2DLogic(WindowPooling2DLogic):
    """Median pooling (2-D). Arguments, defaults and output shape as ``MaxPooling2D``'s.

    ``(N, H, W, C) -> (N, H', W', C)``: the median of each ``pool_size`` window (see the module
    docstring); robust to impulse noise, where max pooling passes the largest outlier.
    """

    def reduce(self, windows, training=None):
        return median_pool(self._gen.ops, windows)
