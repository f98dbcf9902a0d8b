"""Picking one entry per window by a run-time index, written so every backend and TFLite run it."""


def select_along_last_axis(ops, values, index):
    """``values[..., index]`` per position: ``values`` (..., K), ``index`` int (...) or
    broadcasting to it. A one-hot ``where`` and a sum (no gather): entries not selected may be
    ``inf`` (the padding of a median window) without reaching the result or the gradient."""
    count = values.shape[-1]
    one_hot = ops.arange(count) == ops.expand_dims(index, -1)
    return ops.sum(ops.where(one_hot, values, ops.zeros_like(values)), axis=-1)
