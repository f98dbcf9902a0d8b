"""keras_adastride: learned, input-adaptive stride for Keras convolution and pooling.

Layers: :class:`CAS` (conv with adaptive stride), :class:`PAS` (pooling with adaptive stride),
:class:`StrideGate` (their shared gate branch), :class:`SpaceToDepth` and
:class:`SpaceToDepthConv` (SPD-Conv); the pooling kinds of :mod:`keras_adastride.layers.pooling`
(:class:`StochasticPooling2D`, :class:`MedianPooling2D`, :class:`SpatialPyramidPooling`,
:class:`NetVLAD`, :class:`BilinearPooling`, :class:`MaxPoolingWithArgmax2D` /
:class:`MaxUnpooling2D`). :func:`convert` puts them into an existing model.

``import keras_adastride`` imports the layers and registers them (and ``AveragingKernel``,
``detection.DetectionDecoder`` and ``detection.YOLOXDetector``) with Keras, so that ``keras.models.load_model`` finds them. One exception: while Python locates a
``python -m keras_adastride...`` module or the ``keras-adastride`` script starts, nothing is
imported yet (the command answers ``--help`` and argument errors without loading TensorFlow); the
names are then imported on first use, and the command's models import the layers themselves.
"""

import importlib
import os
import sys

__version__ = "0.1.0"

#: public name -> the module that defines it.
_PUBLIC = {
    "AveragingKernel": "keras_adastride.initializers",
    "BilinearPooling": "keras_adastride.layers",
    "CAS": "keras_adastride.layers",
    "MaxPoolingWithArgmax2D": "keras_adastride.layers",
    "MaxUnpooling2D": "keras_adastride.layers",
    "MedianPooling2D": "keras_adastride.layers",
    "NetVLAD": "keras_adastride.layers",
    "PAS": "keras_adastride.layers",
    "SpaceToDepth": "keras_adastride.layers",
    "SpaceToDepthConv": "keras_adastride.layers",
    "SpatialPyramidPooling": "keras_adastride.layers",
    "StochasticPooling2D": "keras_adastride.layers",
    "StrideGate": "keras_adastride.layers",
    "convert": "keras_adastride.retrofit",
}
__all__ = sorted(_PUBLIC) + ["__version__"]
#: modules imported with the package only for what they register with Keras (saved detectors)
_REGISTERING = ("keras_adastride.detection.decode", "keras_adastride.detection.model")


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'keras_adastride' has no attribute {name!r}")


def _command_line_is_starting():
    """``sys.argv[0]`` is "-m" while ``python -m`` locates its module (documented in Python's
    command-line reference); the console script is named ``keras-adastride``."""
    return sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0] if sys.argv else "") == (
        "keras-adastride")


if _command_line_is_starting():
    # TensorFlow leaves oneDNN off on x86 CPUs without AVX-512 (e.g. AMD EPYC); its own kernels
    # then spend 1.4-1.8x the CPU time per training step (benchmarks/onednn.py). Our commands turn
    # it on before TensorFlow loads; TF_ENABLE_ONEDNN_OPTS=0 set by the caller wins.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
else:
    globals().update({name: __getattr__(name) for name in _PUBLIC})
    for _module in _REGISTERING:
        importlib.import_module(_module)
