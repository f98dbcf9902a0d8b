"""The Keras 3 layers. Logic lives in the ``*Logic`` classes; this module binds them to
``keras.layers.Layer`` (``keras_adastride.tfmot`` binds the same logic to ``tf_keras``)."""

import keras

from keras_adastride._backend import keras3
from keras_adastride.layers.cas import CASLogic
from keras_adastride.layers.pas import PASLogic
from keras_adastride.layers.pooling.average import PaddingFreeAveragePooling2DLogic
from keras_adastride.layers.pooling.bilinear import BilinearPoolingLogic
from keras_adastride.layers.pooling.median import MedianPooling2DLogic
from keras_adastride.layers.pooling.netvlad import NetVLADLogic
from keras_adastride.layers.pooling.spatial_pyramid import SpatialPyramidPoolingLogic
from keras_adastride.layers.pooling.stochastic import StochasticPooling2DLogic
from keras_adastride.layers.pooling.unpooling import MaxPoolingWithArgmax2DLogic, MaxUnpooling2DLogic
from keras_adastride.layers.replica_local_losses import ReplicaLocalLosses
from keras_adastride.layers.space_to_depth import SpaceToDepthLogic
from keras_adastride.layers.space_to_depth_conv import SpaceToDepthConvLogic
from keras_adastride.layers.stride_gate import StrideGateLogic

KERAS3 = keras3()
_register = keras.saving.register_keras_serializable(package="keras_adastride")


@_register
class StrideGate(ReplicaLocalLosses, StrideGateLogic, keras.layers.Layer):
    __doc__ = StrideGateLogic.__doc__
    _gen = KERAS3


@_register
class CAS(ReplicaLocalLosses, CASLogic, keras.layers.Layer):
    __doc__ = CASLogic.__doc__
    _gen = KERAS3
    _gate_class = StrideGate


@_register
class StochasticPooling2D(StochasticPooling2DLogic, keras.layers.Layer):
    __doc__ = StochasticPooling2DLogic.__doc__
    _gen = KERAS3


@_register
class MedianPooling2D(MedianPooling2DLogic, keras.layers.Layer):
    __doc__ = MedianPooling2DLogic.__doc__
    _gen = KERAS3


@_register
class SpatialPyramidPooling(SpatialPyramidPoolingLogic, keras.layers.Layer):
    __doc__ = SpatialPyramidPoolingLogic.__doc__
    _gen = KERAS3


@_register
class NetVLAD(NetVLADLogic, keras.layers.Layer):
    __doc__ = NetVLADLogic.__doc__
    _gen = KERAS3


@_register
class BilinearPooling(BilinearPoolingLogic, keras.layers.Layer):
    __doc__ = BilinearPoolingLogic.__doc__
    _gen = KERAS3


@_register
class MaxPoolingWithArgmax2D(MaxPoolingWithArgmax2DLogic, keras.layers.Layer):
    __doc__ = MaxPoolingWithArgmax2DLogic.__doc__
    _gen = KERAS3


@_register
class MaxUnpooling2D(MaxUnpooling2DLogic, keras.layers.Layer):
    __doc__ = MaxUnpooling2DLogic.__doc__
    _gen = KERAS3


class _PaddingFreeAveragePooling2D(PaddingFreeAveragePooling2DLogic, keras.layers.AveragePooling2D):
    __doc__ = PaddingFreeAveragePooling2DLogic.__doc__
    _gen = KERAS3


@_register
class PAS(PASLogic, keras.layers.Layer):
    __doc__ = PASLogic.__doc__
    _gen = KERAS3
    _gate_class = StrideGate
    _pool_classes = {"stochastic": StochasticPooling2D, "median": MedianPooling2D,
                     **({"average": _PaddingFreeAveragePooling2D}
                        if keras.backend.backend() == "torch" else {})}


@_register
class SpaceToDepth(SpaceToDepthLogic, keras.layers.Layer):
    __doc__ = SpaceToDepthLogic.__doc__
    _gen = KERAS3


@_register
class SpaceToDepthConv(SpaceToDepthConvLogic, keras.layers.Layer):
    __doc__ = SpaceToDepthConvLogic.__doc__
    _gen = KERAS3
    _space_to_depth_class = SpaceToDepth


__all__ = ["BilinearPooling", "CAS", "MaxPoolingWithArgmax2D", "MaxUnpooling2D",
           "MedianPooling2D", "NetVLAD", "PAS", "SpaceToDepth", "SpaceToDepthConv",
           "SpatialPyramidPooling", "StochasticPooling2D", "StrideGate"]
