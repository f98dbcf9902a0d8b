"""What the window poolings share (median, stochastic): ``MaxPooling2D``'s arguments, shapes and
config, over :func:`~keras_adastride.layers.pooling.windows.pool_windows`.

A sibling of Keras's ``BasePooling``: same arguments, defaults (``strides=None`` means
``pool_size``) and output shapes; a subclass implements ``reduce(windows, training)``.
"""

from keras_adastride import _validation as check
from keras_adastride.layers.pooling.windows import pool_windows, pooled_shape


class WindowPooling2DLogic:
    """Base of the 2-D poolings computed from the stacked windows.

    Args:
        pool_size: int or pair: window size.
        strides: int, pair or None (``pool_size``).
        padding: "valid" or "same" (TensorFlow's split; padding never counts as a value).
        data_format: "channels_last" or "channels_first" (None: the Keras default).
    """

    _gen = None  # the Keras generation, set by the concrete class

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.pool_size, self.strides, self.padding, self.data_format = check.pooling_geometry(
            name, pool_size, strides, padding, data_format,
            self._gen.keras.backend.image_data_format(),
        )

    def build(self, input_shape):
        self._input_channels = check.image_input_shape(
            type(self).__name__, input_shape, self.data_format
        )
        super().build(input_shape)

    def call(self, inputs, training=None):
        check.same_channels(
            type(self).__name__, self._input_channels, inputs.shape, self.data_format
        )
        windows = pool_windows(self._gen.ops, inputs, self.pool_size, self.strides, self.padding,
                               self.data_format)
        return self.reduce(windows, training=training)

    def reduce(self, windows, training=None):
        """The pooled map from :class:`PoolWindows` (values ``(..., kh·kw)``)."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return pooled_shape(input_shape, self.pool_size, self.strides, self.padding,
                            self.data_format)

    def get_config(self):
        config = super().get_config()
        config.update(pool_size=self.pool_size, strides=self.strides, padding=self.padding,
                      data_format=self.data_format)
        return config
