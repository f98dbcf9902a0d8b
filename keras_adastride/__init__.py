"""keras_adastride: learned, input-adaptive stride for Keras convolution and pooling.

Layers: :class:`CAS` (conv with adaptive stride), :class:`PAS` (pooling with adaptive stride),
:class:`StrideGate` (their shared gate branch), :class:`SpaceToDepth` and
:class:`SpaceToDepthConv` (SPD-Conv).
"""

from keras_adastride.initializers import AveragingKernel
from keras_adastride.layers import CAS, PAS, SpaceToDepth, SpaceToDepthConv, StrideGate

__version__ = "0.1.0"
__all__ = ["AveragingKernel", "CAS", "PAS", "SpaceToDepth", "SpaceToDepthConv", "StrideGate", "__version__"]
