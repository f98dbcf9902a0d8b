"""Bilinear pooling (Lin, RoyChowdhury & Maji, ICCV 2015, "Bilinear CNN Models for Fine-grained
Visual Recognition").

For feature maps ``A`` (N, H, W, C_a) and ``B`` (N, H, W, C_b) over the same positions::

    z = Σ_{positions} a ⊗ b          (C_a, C_b), sum-pooled outer products, flattened (row = a)
    z = sign(z) · sqrt(|z|)           signed square root
    y = z / max(||z||_2, epsilon)     L2 normalisation;  (N, C_a·C_b)

One input means ``B = A`` (symmetric B-CNN). The square root's gradient is infinite at 0, so it
is taken of ``max(|z|, epsilon)``: zeros stay zero (``sign(0) = 0``) with a finite gradient.
Runs in float32 under a mixed policy; the output has the compute dtype.
"""

from keras_adastride import _validation as check
from keras_adastride.layers.pooling.netvlad import l2_normalize


class BilinearPoolingLogic:
    """Bilinear pooling of one map with itself or of two maps: ``-> (N, C_a·C_b)``.

    Args:
        epsilon: the smallest norm divided by; the signed square root takes
            ``sqrt(max(|z|, epsilon))`` so its gradient stays finite at 0.
        data_format: "channels_last" or "channels_first" (None: the Keras default).
    """

    _gen = None  # the Keras generation, set by the concrete class

    def __init__(self, epsilon=1e-12, data_format=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.epsilon = check.positive_number(name, "epsilon", epsilon)
        self.data_format = check.data_format(
            name, data_format, self._gen.keras.backend.image_data_format()
        )

    def _split(self, shapes):
        """One map or a list of two -> (shape_a, shape_b)."""
        if isinstance(shapes, (list, tuple)) and shapes and isinstance(shapes[0], (list, tuple)):
            if len(shapes) != 2:
                raise ValueError(f"{type(self).__name__}: `inputs` must be one feature map or a "
                                 f"list of two; received {len(shapes)} inputs.")
            return tuple(shapes[0]), tuple(shapes[1])
        return tuple(shapes), tuple(shapes)

    def build(self, input_shape):
        name = type(self).__name__
        shape_a, shape_b = self._split(input_shape)
        self._channels = tuple(check.image_input_shape(name, s, self.data_format)
                               for s in (shape_a, shape_b))
        axes = (2, 3) if self.data_format == "channels_first" else (1, 2)
        for axis in axes:
            if None not in (shape_a[axis], shape_b[axis]) and shape_a[axis] != shape_b[axis]:
                raise ValueError(f"{name}: the two feature maps must have the same height and "
                                 f"width; received shapes {shape_a} and {shape_b}.")
        super().build(input_shape)

    def call(self, inputs):
        ops = self._gen.ops
        maps = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs, inputs]
        a, b = (ops.cast(m, "float32") for m in maps)
        spec = "ncij,ndij->ncd" if self.data_format == "channels_first" else "nijc,nijd->ncd"
        z = ops.einsum(spec, a, b)
        z = ops.reshape(z, (ops.shape(z)[0], self._channels[0] * self._channels[1]))
        z = ops.sign(z) * ops.sqrt(ops.maximum(ops.abs(z), self.epsilon))
        return ops.cast(l2_normalize(ops, z, -1, self.epsilon), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        shape_a, shape_b = self._split(input_shape)
        axis = 1 if self.data_format == "channels_first" else -1
        return (shape_a[0], shape_a[axis] * shape_b[axis])

    def get_config(self):
        config = super().get_config()
        config.update(epsilon=self.epsilon, data_format=self.data_format)
        return config
