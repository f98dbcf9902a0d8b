"""Stochastic pooling (Zeiler & Fergus, ICLR 2013, "Stochastic Pooling for Regularization of Deep
Convolutional Neural Networks").

For each window of activations ``a_1..a_K`` (non-negative: the paper pools ReLU outputs; here
``a = relu(x)``, so a negative input counts as 0 and padding is never drawn)::

    p_k = a_k / Σ_l a_l
    training:  y = a_m,  m ~ Multinomial(p_1..p_K)   (one draw per window and channel)
    inference: y = Σ_k p_k a_k = Σ a_k² / Σ a_k      (the paper's probabilistic weighting)

A window of zeros gives 0. The draw is ``m = #{k : P_k <= u·P_K}`` for the cumulative sums
``P_k`` of ``a`` and one uniform ``u`` in [0, 1) (inverse CDF; the first ``k`` with ``P_k > u·P_K``).
The gradient reaches the drawn activation (training) or every activation (inference).
"""

from keras_adastride.layers.pooling.base import WindowPooling2DLogic
from keras_adastride.layers.pooling.selection import select_along_last_axis


def stochastic_pool(ops, windows, uniform=None):
    """Stochastic pooling over the last axis of :class:`PoolWindows`.

    ``uniform``: draws in [0, 1) of the output's shape (training), or None (inference: the
    probability-weighted average). Probabilities are computed in float32 under any policy.
    """
    activations = ops.relu(windows.values)  # padding entries are 0: probability 0
    weights = ops.cast(activations, "float32")
    if uniform is None:
        total = ops.sum(weights, axis=-1)
        positive = total > 0
        expected = ops.sum(weights * weights, axis=-1) / ops.where(
            positive, total, ops.ones_like(total)
        )
        return ops.cast(ops.where(positive, expected, ops.zeros_like(expected)),
                        activations.dtype)
    cumulative = ops.cumsum(weights, axis=-1)
    threshold = ops.expand_dims(ops.cast(uniform, "float32") * cumulative[..., -1], -1)
    drawn = ops.sum(ops.cast(cumulative <= threshold, "int32"), axis=-1)
    # drawn == K only for an all-zero window (then every entry is 0) or u·P_K rounding to P_K.
    drawn = ops.minimum(drawn, activations.shape[-1] - 1)
    return select_along_last_axis(ops, activations, ops.stop_gradient(drawn))


class StochasticPooling2DLogic(WindowPooling2DLogic):
    """Stochastic pooling (2-D). Arguments, defaults and output shape as ``MaxPooling2D``'s, plus
    ``seed`` (int or None: drawn from the global seed, so ``keras.utils.set_random_seed`` makes
    training deterministic).

    ``(N, H, W, C) -> (N, H', W', C)``: in training one activation per window drawn with
    probability proportional to its value; at inference their probability-weighted average (see
    the module docstring). Meant for non-negative inputs (after a ReLU); negatives count as 0.
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 seed=None, **kwargs):
        super().__init__(pool_size=pool_size, strides=strides, padding=padding,
                         data_format=data_format, **kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"{type(self).__name__}: argument `seed` must be an integer or "
                             f"None; received seed={seed!r}.")
        self.seed = seed
        self.seed_generator = self._gen.seed_generator(seed)

    def reduce(self, windows, training=None):
        ops = self._gen.ops
        if not training:
            return stochastic_pool(ops, windows)
        uniform = self._gen.uniform(ops.shape(windows.values)[:-1], self.seed_generator)
        return stochastic_pool(ops, windows, uniform)

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config
