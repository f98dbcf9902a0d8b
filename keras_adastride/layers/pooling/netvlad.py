"""NetVLAD (Arandjelović et al., CVPR 2016): a trainable VLAD descriptor of a feature map.

For the ``M = H·W`` local descriptors ``x_i`` (D channels) and ``K`` learnable centres ``c_k``::

    a_k(x_i) = softmax_k(w_k·x_i + b_k)                  soft assignment (a 1x1 conv, K outputs)
    V[k, :]  = Σ_i a_k(x_i) (x_i - c_k)                   (K, D)
    V[k, :] /= ||V[k, :]||                               intra-normalisation
    v        = flatten(V) / ||flatten(V)||                L2 normalisation; (N, K·D), centre-major

With ``normalize_inputs`` each ``x_i`` is L2-normalised first (as in the authors' code). Norms
divide by ``max(||·||, epsilon)``. The arithmetic runs in float32 under a mixed policy (sums of
squares over many positions overflow float16); the output has the compute dtype.
"""

from keras_adastride import _validation as check


def l2_normalize(ops, x, axis, epsilon):
    """``x / max(||x||_2, epsilon)`` along ``axis``."""
    norm = ops.sqrt(ops.sum(x * x, axis=axis, keepdims=True))
    return x / ops.maximum(norm, epsilon)


class NetVLADLogic:
    """NetVLAD pooling: ``(N, H, W, D) -> (N, K·D)`` (see module docstring).

    Args:
        num_clusters: K, the number of centres.
        normalize_inputs: L2-normalise each local descriptor first (default True).
        epsilon: the smallest norm divided by.
        centers_initializer, kernel_initializer, bias_initializer: of ``c`` (K, D), ``w`` (D, K)
            and ``b`` (K,).
        data_format: "channels_last" or "channels_first" (None: the Keras default).
    """

    _gen = None  # the Keras generation, set by the concrete class

    def __init__(self, num_clusters, normalize_inputs=True, epsilon=1e-12,
                 centers_initializer="random_uniform", kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", data_format=None, **kwargs):
        super().__init__(**kwargs)
        name = type(self).__name__
        self.num_clusters = check.positive_int(name, "num_clusters", num_clusters)
        if not isinstance(normalize_inputs, bool):
            raise ValueError(f"{name}: argument `normalize_inputs` must be True or False; "
                             f"received normalize_inputs={normalize_inputs!r}.")
        self.normalize_inputs = normalize_inputs
        self.epsilon = check.positive_number(name, "epsilon", epsilon)
        initializers = self._gen.keras.initializers
        self.centers_initializer = initializers.get(centers_initializer)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.data_format = check.data_format(
            name, data_format, self._gen.keras.backend.image_data_format()
        )

    def build(self, input_shape):
        depth = check.image_input_shape(type(self).__name__, input_shape, self.data_format)
        self._input_channels = depth
        self.centers = self.add_weight(name="centers", shape=(self.num_clusters, depth),
                                       initializer=self.centers_initializer)
        self.kernel = self.add_weight(name="kernel", shape=(depth, self.num_clusters),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.num_clusters,),
                                    initializer=self.bias_initializer)
        super().build(input_shape)

    def call(self, inputs):
        check.same_channels(
            type(self).__name__, self._input_channels, inputs.shape, self.data_format
        )
        ops = self._gen.ops
        x = ops.cast(inputs, "float32")
        if self.data_format == "channels_first":
            x = ops.transpose(x, (0, 2, 3, 1))
        x = ops.reshape(x, (ops.shape(x)[0], -1, self._input_channels))  # (N, M, D)
        if self.normalize_inputs:
            x = l2_normalize(ops, x, -1, self.epsilon)
        kernel, bias, centers = (ops.cast(w, "float32")
                                 for w in (self.kernel, self.bias, self.centers))
        assignment = ops.softmax(ops.matmul(x, kernel) + bias, axis=-1)  # (N, M, K)
        # Σ_i a_ik (x_i - c_k) = (aᵀx)_k - (Σ_i a_ik) c_k
        vlad = ops.matmul(ops.transpose(assignment, (0, 2, 1)), x)  # (N, K, D)
        vlad = vlad - ops.expand_dims(ops.sum(assignment, axis=1), -1) * centers
        vlad = l2_normalize(ops, vlad, -1, self.epsilon)
        vlad = ops.reshape(vlad, (ops.shape(vlad)[0], self.num_clusters * self._input_channels))
        return ops.cast(l2_normalize(ops, vlad, -1, self.epsilon), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        depth = input_shape[1] if self.data_format == "channels_first" else input_shape[-1]
        return (input_shape[0], self.num_clusters * depth)

    def get_config(self):
        config = super().get_config()
        serialize = self._gen.keras.initializers.serialize
        config.update(num_clusters=self.num_clusters, normalize_inputs=self.normalize_inputs,
                      epsilon=self.epsilon,
                      centers_initializer=serialize(self.centers_initializer),
                      kernel_initializer=serialize(self.kernel_initializer),
                      bias_initializer=serialize(self.bias_initializer),
                      data_format=self.data_format)
        return config
