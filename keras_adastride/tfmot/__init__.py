"""The layers for ``tf_keras`` (Keras 2): pruning and quantization-aware training with
tensorflow-model-optimization (TFMOT), and TFLite.

TFMOT 0.8.1 accepts only ``tf_keras`` objects, and importing it makes ``tf.keras`` mean
``tf_keras`` for the whole process; this subpackage imports both, ``import keras_adastride`` never
does. The layers here run the same logic as the Keras 3 ones (same outputs, same weight order:
``get_weights()`` of one is ``set_weights()`` of the other).

    from keras_adastride import tfmot as kat
    model = tf_keras.Sequential([..., kat.CAS(16, 3), kat.PAS(), ...])
    pruned = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=...)
    with kat.quantize_scope():
        qat = tfmot.quantization.keras.quantize_apply(kat.quantize_annotate_model(model))

A Keras 3 model (a ``keras_adastride.models`` builder, say) crosses with ``kat.to_tf_keras`` and
comes back, pruned and stripped, with ``kat.to_keras3`` (``keras_adastride.tfmot.bridge``).
"""

from keras_adastride.tfmot.bridge import to_keras3, to_tf_keras
from keras_adastride.tfmot.layers import (
    CAS,
    AveragingKernel,
    CUSTOM_OBJECTS,
    PAS,
    MedianPooling2D,
    StochasticPooling2D,
    TF_KERAS,
    SpaceToDepth,
    SpaceToDepthConv,
    SpatialPyramidPooling,
    StrideGate,
)
from keras_adastride.tfmot.quantization import (
    CASQuantizeConfig,
    FoldedQuantizeScheme,
    PASQuantizeConfig,
    SpaceToDepthConvQuantizeConfig,
    SpaceToDepthQuantizeConfig,
    SpatialPyramidPoolingQuantizeConfig,
    StrideGateQuantizeConfig,
    default_quantize_config,
    fold_batch_norms,
    quantize_annotate_model,
    quantize_scope,
)

__all__ = [
    "AveragingKernel",
    "CAS",
    "CUSTOM_OBJECTS",
    "MedianPooling2D",
    "PAS",
    "StochasticPooling2D",
    "TF_KERAS",
    "SpaceToDepth",
    "SpaceToDepthConv",
    "SpatialPyramidPooling",
    "StrideGate",
    "CASQuantizeConfig",
    "FoldedQuantizeScheme",
    "PASQuantizeConfig",
    "SpaceToDepthConvQuantizeConfig",
    "SpaceToDepthQuantizeConfig",
    "SpatialPyramidPoolingQuantizeConfig",
    "StrideGateQuantizeConfig",
    "default_quantize_config",
    "fold_batch_norms",
    "quantize_annotate_model",
    "quantize_scope",
    "to_keras3",
    "to_tf_keras",
]
