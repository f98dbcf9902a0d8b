"""The layers bound to ``tf_keras`` (Keras 2), the Keras generation TFMOT accepts.

Same ``*Logic`` classes as :mod:`keras_adastride.layers`, bound with ``_backend.tf_keras()``
instead of ``keras3()``: one implementation, two generations. Registered in ``tf_keras``'s own
serializable registry (package ``keras_adastride``), so ``tf_keras.models.load_model`` finds them.

Pruning (``tfmot.sparsity.keras.prune_low_magnitude``) asks each layer for
``get_prunable_weights()``:

    CAS                 conv kernel + gate kernels (gate kernels only if ``prune_gate``)
    PAS, StrideGate     gate kernels (none if ``prune_gate=False``)
    SpaceToDepthConv    conv kernel
    SpaceToDepth        none (no weights)
    StochasticPooling2D, MedianPooling2D, SpatialPyramidPooling   none (no weights)

Biases are never pruned (as for built-in layers). ``prune_gate=False`` leaves the gate dense.
Gate kernels under :data:`MIN_PRUNABLE_GATE_KERNEL` weights always stay dense: magnitude pruning
keeps a whole number of weights, so a kernel of n weights misses a target sparsity by up to
1/(2n) (the default gate's last 1x1 kernel has 8: 80% is reachable only as 75% or 87.5%), and
such kernels hold a negligible share of the parameters.
Weights are created in the same order as the Keras 3 layers, so ``get_weights()`` of one
generation is ``set_weights()`` of the other.
"""

import tensorflow as tf
import tf_keras

from keras_adastride import initializers as _initializers
from keras_adastride._backend import tf_keras as _tf_keras_generation
from keras_adastride.layers.cas import CASLogic
from keras_adastride.layers.pas import PASLogic
from keras_adastride.layers.pooling.median import MedianPooling2DLogic
from keras_adastride.layers.pooling.spatial_pyramid import SpatialPyramidPoolingLogic
from keras_adastride.layers.pooling.stochastic import StochasticPooling2DLogic
from keras_adastride.layers.space_to_depth import SpaceToDepthLogic
from keras_adastride.layers.space_to_depth_conv import SpaceToDepthConvLogic
from keras_adastride.layers.stride_gate import StrideGateLogic

TF_KERAS = _tf_keras_generation()
_register = tf_keras.saving.register_keras_serializable(package="keras_adastride")

#: smallest gate kernel pruned: 1/(2n) <= 1 point of sparsity for n >= 50.
MIN_PRUNABLE_GATE_KERNEL = 50


class _PrunableGateMixin:
    """``prune_gate`` argument: whether pruning reaches the gate kernels (default True)."""

    def __init__(self, *args, prune_gate=True, **kwargs):
        if not isinstance(prune_gate, bool):
            raise ValueError(
                f"{type(self).__name__}: argument `prune_gate` must be True or False; "
                f"received prune_gate={prune_gate!r}."
            )
        super().__init__(*args, **kwargs)
        self.prune_gate = prune_gate

    def _prunable_gate_kernels(self, gate):
        if not self.prune_gate:
            return []
        return [k for k in gate.kernels if k.shape.num_elements() >= MIN_PRUNABLE_GATE_KERNEL]

    def get_config(self):
        config = super().get_config()
        config["prune_gate"] = self.prune_gate
        return config


@_register
class StrideGate(_PrunableGateMixin, StrideGateLogic, tf_keras.layers.Layer):
    __doc__ = StrideGateLogic.__doc__
    _gen = TF_KERAS

    def get_prunable_weights(self):
        """The gate kernels (``[]`` with ``prune_gate=False``)."""
        return self._prunable_gate_kernels(self)


@_register
class CAS(_PrunableGateMixin, CASLogic, tf_keras.layers.Layer):
    __doc__ = CASLogic.__doc__
    _gen = TF_KERAS
    _gate_class = StrideGate

    def get_prunable_weights(self):
        """The conv kernel, then the gate kernels (unless ``prune_gate=False``)."""
        return [self.conv.kernel, *self._prunable_gate_kernels(self.gate)]


class _NoWeightsMixin:
    def get_prunable_weights(self):
        """None: the layer has no weights."""
        return []


@_register
class StochasticPooling2D(_NoWeightsMixin, StochasticPooling2DLogic, tf_keras.layers.Layer):
    __doc__ = StochasticPooling2DLogic.__doc__
    _gen = TF_KERAS


@_register
class MedianPooling2D(_NoWeightsMixin, MedianPooling2DLogic, tf_keras.layers.Layer):
    __doc__ = MedianPooling2DLogic.__doc__
    _gen = TF_KERAS


@_register
class SpatialPyramidPooling(_NoWeightsMixin, SpatialPyramidPoolingLogic, tf_keras.layers.Layer):
    __doc__ = SpatialPyramidPoolingLogic.__doc__
    _gen = TF_KERAS


@_register
class PAS(_PrunableGateMixin, PASLogic, tf_keras.layers.Layer):
    __doc__ = PASLogic.__doc__
    _gen = TF_KERAS
    _gate_class = StrideGate
    _pool_classes = {"stochastic": StochasticPooling2D, "median": MedianPooling2D}

    def get_prunable_weights(self):
        """The gate kernels (``[]`` with ``prune_gate=False``: pooling has no weights)."""
        return self._prunable_gate_kernels(self.gate)


@_register
class SpaceToDepth(_NoWeightsMixin, SpaceToDepthLogic, tf_keras.layers.Layer):
    __doc__ = SpaceToDepthLogic.__doc__
    _gen = TF_KERAS


@_register
class SpaceToDepthConv(SpaceToDepthConvLogic, tf_keras.layers.Layer):
    __doc__ = SpaceToDepthConvLogic.__doc__
    _gen = TF_KERAS
    _space_to_depth_class = SpaceToDepth

    def get_prunable_weights(self):
        """The conv kernel."""
        return [self.conv.kernel]


@_register
class AveragingKernel(tf_keras.initializers.Initializer):
    __doc__ = _initializers.AveragingKernel.__doc__

    def __call__(self, shape, dtype=None, **kwargs):
        return tf.constant(_initializers.averaging_kernel(tuple(shape)), dtype=dtype)


#: name -> class, for ``custom_objects`` / ``custom_object_scope``.
CUSTOM_OBJECTS = {
    cls.__name__: cls
    for cls in (CAS, MedianPooling2D, PAS, SpaceToDepth, SpaceToDepthConv, SpatialPyramidPooling,
                StochasticPooling2D, StrideGate, AveragingKernel)
}
