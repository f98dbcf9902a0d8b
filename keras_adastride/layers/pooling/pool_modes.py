"""PAS's ``pool_mode``: which poolings make the initial map and how they combine.

    max             max_pool(x)
    average         avg_pool(x)
    avg_max_add     avg_pool(x) + max_pool(x)          (kept for compatibility: twice the scale)
    avg_max_mean    0.5 · (avg_pool(x) + max_pool(x))  (the survey's "add" form, same scale as x)
    avg_max_concat  [avg_pool(x), max_pool(x)] on channels (twice the input channels)
    stochastic      StochasticPooling2D(x)  (a draw in training, the weighted average at inference)
    median          MedianPooling2D(x)

``avg_max_add`` and ``avg_max_mean`` differ by exactly a factor 2; under a learned gate the
factor can be absorbed, but a net that follows the pool with anything scale-sensitive (no
normalisation) sees inputs twice as large with ``avg_max_add``.
"""

#: pool_mode -> the poolings it combines (in the order their outputs are combined)
POOL_MODES = {
    "max": ("max",),
    "average": ("average",),
    "avg_max_add": ("average", "max"),
    "avg_max_mean": ("average", "max"),
    "avg_max_concat": ("average", "max"),
    "stochastic": ("stochastic",),
    "median": ("median",),
}


def make_pools(host, pool_mode, pooling):
    """``{kind: pooling layer}`` for ``pool_mode``, of ``host``'s Keras generation.

    ``host._pool_classes`` maps "stochastic" / "median" to that generation's
    StochasticPooling2D / MedianPooling2D (and may replace "average", see
    :mod:`~keras_adastride.layers.pooling.average`); ``pooling``: pool_size, strides, padding,
    data_format, dtype.
    """
    layers = host._gen.keras.layers
    classes = {"max": layers.MaxPooling2D, "average": layers.AveragePooling2D,
               **host._pool_classes}
    return {kind: classes[kind](**pooling, name=f"{kind}_pool") for kind in POOL_MODES[pool_mode]}


def combine_pools(ops, pool_mode, pooled, channel_axis):
    """The initial map from the pooled maps (in :data:`POOL_MODES` order)."""
    if pool_mode == "avg_max_concat":
        return ops.concatenate(pooled, axis=channel_axis)
    if pool_mode == "avg_max_add":
        return pooled[0] + pooled[1]
    if pool_mode == "avg_max_mean":
        return 0.5 * (pooled[0] + pooled[1])
    return pooled[0]


def channel_multiplier(pool_mode):
    """Initial-map channels per input channel."""
    return 2 if pool_mode == "avg_max_concat" else 1
