"""PAS, pooling with adaptive stride: ``pool_S(x) ⊙ gate(x)``."""

from keras_adastride import _validation as check
from keras_adastride.layers.adaptive_stride import (
    GATE_ARGUMENTS,
    SPARSE_ARGUMENTS,
    AdaptiveStrideLogic,
)
from keras_adastride.layers.pooling.pool_modes import (POOL_MODES, channel_multiplier,
                                                       combine_pools, make_pools)


class PASLogic(AdaptiveStrideLogic):
    """Pooling with adaptive stride (2-D).

    ``outputs = pool(x; pool_size, strides) * gate(x)``. Takes what ``MaxPooling2D`` takes, with
    the same meaning and defaults (``strides=None`` means ``pool_size``), plus ``pool_mode``, the
    gate and the sparse-execution arguments (see :class:`AdaptiveStrideLogic`). ``pool_mode``:
    "max", "average", "avg_max_add", "avg_max_mean", "avg_max_concat", "stochastic" or "median"
    (see :mod:`keras_adastride.layers.pooling.pool_modes`; sparse inference: the first five).
    The gate's first
    conv has kernel ``pool_size`` and the pooling strides and padding. With ``gate_channels="per_channel"`` the
    gate has one channel per input channel (shared by the avg and max halves of the concat form).
    """

    def __init__(
        self,
        pool_size=(2, 2),
        strides=None,
        padding="valid",
        data_format=None,
        pool_mode="max",
        gate_width=8,
        gate_depth=3,
        gate_channels="single",
        gate_activation="relu",
        gate_init="identity",
        gate_hidden_kernel_size=1,
        gate_jit_compile="auto",
        target_stride=None,
        target_stride_weight=0.1,
        sparse_inference=False,
        sparse_block_size=8,
        **kwargs,
    ):
        super().__init__(**kwargs)
        arguments = dict(locals())
        name = type(self).__name__
        self.pool_size, self.strides, self.padding, self.data_format = check.pooling_geometry(
            name, pool_size, strides, padding, data_format,
            self._gen.keras.backend.image_data_format(),
        )
        self.pool_mode = check.one_of(name, "pool_mode", pool_mode, set(POOL_MODES))
        pooling = dict(
            pool_size=self.pool_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            dtype=self.dtype_policy,
        )
        if sparse_inference and self.pool_mode in ("stochastic", "median"):
            raise ValueError(
                f"{name}: sparse_inference=True takes pool_mode max, average or avg_max_*; "
                f"received pool_mode={pool_mode!r}."
            )
        pools = make_pools(self, self.pool_mode, pooling)
        self.max_pool = pools.get("max")
        self.average_pool = pools.get("average")
        self.window_pool = pools.get("stochastic", pools.get("median"))  # or None
        self._init_gate(
            geometry=dict(
                kernel_size=self.pool_size,
                strides=self.strides,
                padding=self.padding,
                dilation_rate=1,
                data_format=self.data_format,
            ),
            per_channel_count=None,
            **{key: arguments[key] for key in GATE_ARGUMENTS},
        )
        self._init_sparse(**{key: arguments[key] for key in SPARSE_ARGUMENTS})

    def _pools(self):
        """The poolings of the initial map, in :data:`POOL_MODES` order."""
        pools = (self.average_pool, self.max_pool, self.window_pool)
        return [pool for pool in pools if pool is not None]

    def _build_main(self, input_shape):
        for pool in self._pools():
            pool.build(input_shape)

    def initial_map(self, inputs):
        """The fixed-stride pooling result before gating."""
        return self._combine([pool(inputs) for pool in self._pools()], self._channel_axis)

    def _sparse_main(self, windows, valid):
        """The pooling, ``valid``, on channels-last windows (``valid``: see sparse_execution)."""
        from keras_adastride.layers.sparse_execution import pool_windows

        pooled = [pool_windows(windows, valid, "max" if pool is self.max_pool else "average",
                               self.pool_size, self.strides) for pool in self._pools()]
        return self._combine(pooled, -1)

    def _combine(self, pooled, axis):
        """The initial map from the poolings of :meth:`_pools`, in that order."""
        return combine_pools(self._gen.ops, self.pool_mode, pooled, axis)

    def _expand_gate(self, gate):
        if self.pool_mode == "avg_max_concat" and self.gate_channels == "per_channel":
            return self._gen.ops.concatenate([gate, gate], axis=self._channel_axis)
        return gate

    def _main_output_shape(self, input_shape):
        shape = list(self._pools()[0].compute_output_shape(input_shape))
        axis = 1 if self.data_format == "channels_first" else 3
        if shape[axis] is not None:
            shape[axis] *= channel_multiplier(self.pool_mode)
        return tuple(shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            pool_size=self.pool_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            pool_mode=self.pool_mode,
        )
        return config
