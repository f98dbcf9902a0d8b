"""Quantization-aware training (TFMOT default 8-bit scheme) for the ``tf_keras`` layers.

One ``QuantizeConfig`` per layer, following TFMOT's own configs for ``Conv2D``:

    layer              weights (8 bit, per output channel)   activations (8 bit)
    CAS                conv kernel, gate kernels             conv activation, gate, output
    PAS                gate kernels                          gate, output
    StrideGate         its kernels                           gate
    SpaceToDepthConv   conv kernel                           conv activation
    SpaceToDepth       none                                  none (slices keep the input's scale)
    SpatialPyramidPooling  none                              none (max pools and a concat of the
                                                             input keep its scale)

"gate": every hidden ReLU output, the last pre-activation when no ReLU follows it (bounded
gates such as 12·sigmoid) and the gate map get a learned range (the gate's
``activation_observers``), so TFLite converts the whole layer to int8 from QAT ranges alone.
Biases stay float (TFLite derives their int32 scale). :func:`quantize_annotate_model` is TFMOT's,
with these configs attached to our layers; :func:`quantize_scope` adds our classes and configs to
TFMOT's scope (needed by ``quantize_apply`` and to load a QAT model).
"""

import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_configs as _default_8bit_configs,
    default_8bit_quantize_layout_transform as _layout,
    default_8bit_quantize_registry as _registry,
    default_8bit_quantize_scheme as _scheme,
)

from keras_adastride.tfmot import layers as _layers
from keras_adastride.tfmot.bridge import _rebuild

_quantizers = tfmot.quantization.keras.quantizers
_QuantizeConfig = tfmot.quantization.keras.QuantizeConfig
_BATCH_NORMS = (tf_keras.layers.BatchNormalization,)
_NoOpQuantizeConfig = _default_8bit_configs.NoOpQuantizeConfig


def _weights_quantizer():
    # What TFMOT's default 8-bit scheme uses for Conv2D kernels: symmetric, narrow range, per axis.
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantizers,
    )

    return default_8bit_quantizers.Default8BitConvWeightsQuantizer()


def _activation_quantizer():
    return _quantizers.MovingAverageQuantizer(
        num_bits=8, per_axis=False, symmetric=False, narrow_range=False
    )


class _NamedActivationQuantizer(_quantizers.MovingAverageQuantizer):
    """8-bit activation quantizer whose range variables carry their own name.

    TFMOT names every activation's range ``post_activation_min/max``; the gate has several.
    """

    def __init__(self, name):
        super().__init__(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)
        self.name = name

    def build(self, tensor_shape, name, layer):
        return super().build(tensor_shape, self.name, layer)

    def get_config(self):
        return {"name": self.name}


class _NoOpQuantizer(_quantizers.Quantizer):
    """Leaves a weight float (biases: TFLite derives their int32 scale itself)."""

    def build(self, tensor_shape, name, layer):
        return {}

    def __call__(self, inputs, training, weights, **kwargs):
        return inputs

    def get_config(self):
        return {}


class _LayerQuantizeConfig(_QuantizeConfig):
    """Shared body: which kernels, whether a conv activation, whether the output is quantized.

    Subclasses set ``layer_class`` and implement ``_conv`` (the main conv or None) and ``_gate``
    (the StrideGate or None).
    """

    layer_class = None
    quantize_output = True

    def _conv(self, layer):
        return None

    def _gate(self, layer):
        return None

    def _check(self, layer):
        if not isinstance(layer, self.layer_class):
            raise ValueError(
                f"{type(self).__name__} quantizes {self.layer_class.__name__} layers only; "
                f"received a {type(layer).__name__} layer ({layer.name!r})."
            )

    def _weights(self, layer):
        """(weight, is_kernel) in layer order: conv kernel, bias, gate kernel_i, bias_i, ..."""
        conv, gate = self._conv(layer), self._gate(layer)
        weights = []
        if conv is not None:
            weights += [(conv.kernel, True)] + ([(conv.bias, False)] if conv.use_bias else [])
        if gate is not None:
            for kernel, bias in zip(gate.kernels, gate.biases):
                weights += [(kernel, True), (bias, False)]
        return weights

    def get_weights_and_quantizers(self, layer):
        # Every weight, in the layer's order (biases through a no-op): a QuantizeWrapperV2 built
        # from a saved config lists its weights in this order, a live one in the layer's order.
        self._check(layer)
        return [
            (weight, _weights_quantizer() if is_kernel else _NoOpQuantizer())
            for weight, is_kernel in self._weights(layer)
        ]

    def set_quantize_weights(self, layer, quantize_weights):
        self._check(layer)
        quantize_weights = list(quantize_weights)
        conv, gate = self._conv(layer), self._gate(layer)
        if conv is not None:
            conv.kernel = quantize_weights.pop(0)
            if conv.use_bias:
                conv.bias = quantize_weights.pop(0)
        if gate is not None:
            # Replace whole lists: an in-place item assignment would stop TF's tracking.
            gate.kernels = quantize_weights[0::2]
            gate.biases = quantize_weights[1::2]

    @staticmethod
    def _gate_observed(gate):
        """Which of the gate's ``depth + 1`` observer slots get a range: the hidden ReLU outputs,
        the last pre-activation unless a ReLU follows (TFLite fuses conv + ReLU), the gate map."""
        fused = gate.activation in ("relu", "relu6")
        return [True] * (len(gate.kernels) - 1) + [not fused, True]

    def get_activations_and_quantizers(self, layer):
        # The conv activation, then an identity ("linear": range taken after it) per gate slot.
        self._check(layer)
        conv, gate = self._conv(layer), self._gate(layer)
        pairs = [] if conv is None else [(conv.activation, _activation_quantizer())]
        if gate is not None:
            pairs += [
                (tf_keras.activations.linear, _NamedActivationQuantizer(f"gate_{i}"))
                for i, observed in enumerate(self._gate_observed(gate))
                if observed
            ]
        return pairs

    def set_quantize_activations(self, layer, quantize_activations):
        self._check(layer)
        quantize_activations = list(quantize_activations)
        conv, gate = self._conv(layer), self._gate(layer)
        if conv is not None:
            conv.activation = quantize_activations.pop(0)
        if gate is not None:
            gate.activation_observers = [
                quantize_activations.pop(0) if observed else tf_keras.activations.linear
                for observed in self._gate_observed(gate)
            ]

    def get_output_quantizers(self, layer):
        self._check(layer)
        return [_activation_quantizer()] if self.quantize_output else []

    def get_config(self):
        return {}


class CASQuantizeConfig(_LayerQuantizeConfig):
    """CAS: conv kernel and gate kernels, the conv activation (the initial map), the output."""

    layer_class = _layers.CAS
    _conv = staticmethod(lambda layer: layer.conv)
    _gate = staticmethod(lambda layer: layer.gate)

    def set_quantize_weights(self, layer, quantize_weights):
        # Separate main and gate convs: each kernel keeps its own per-channel int8 scales in
        # TFLite (the fused form's concat of two fake-quantized kernels does not convert).
        layer.fuse_gate_conv = False
        super().set_quantize_weights(layer, quantize_weights)


class PASQuantizeConfig(_LayerQuantizeConfig):
    """PAS: gate kernels and the output."""

    layer_class = _layers.PAS
    _gate = staticmethod(lambda layer: layer.gate)


class StrideGateQuantizeConfig(_LayerQuantizeConfig):
    """StrideGate alone: its kernels and the gate map."""

    layer_class = _layers.StrideGate
    _gate = staticmethod(lambda layer: layer)


class SpaceToDepthConvQuantizeConfig(_LayerQuantizeConfig):
    """SpaceToDepthConv: conv kernel and conv activation (as TFMOT's Conv2D config).

    ``fold_batch_norm=True`` (a linear SpaceToDepthConv feeding a BatchNormalization): no range
    on the conv's output, as TFMOT does for Conv2D + BatchNormalization, so that TFLite folds
    the normalization into the int8 conv (the BatchNormalization's output carries the range).
    """

    layer_class = _layers.SpaceToDepthConv
    quantize_output = False
    _conv = staticmethod(lambda layer: layer.conv)

    def __init__(self, fold_batch_norm=False):
        self.fold_batch_norm = fold_batch_norm

    def get_activations_and_quantizers(self, layer):
        return [] if self.fold_batch_norm else super().get_activations_and_quantizers(layer)

    def set_quantize_activations(self, layer, quantize_activations):
        if not self.fold_batch_norm:
            super().set_quantize_activations(layer, quantize_activations)

    def get_config(self):
        return {"fold_batch_norm": self.fold_batch_norm}


class SpaceToDepthQuantizeConfig(_LayerQuantizeConfig):
    """SpaceToDepth: nothing (slices and a concat keep the input's quantization)."""

    layer_class = _layers.SpaceToDepth
    quantize_output = False


class SpatialPyramidPoolingQuantizeConfig(_LayerQuantizeConfig):
    """SpatialPyramidPooling: nothing (stride-1 max pools concatenated with their input keep
    the input's quantization, as TFMOT leaves MaxPooling2D)."""

    layer_class = _layers.SpatialPyramidPooling
    quantize_output = False


#: layer class -> its QuantizeConfig class
QUANTIZE_CONFIGS = {
    config.layer_class: config
    for config in (
        CASQuantizeConfig,
        PASQuantizeConfig,
        StrideGateQuantizeConfig,
        SpaceToDepthConvQuantizeConfig,
        SpaceToDepthQuantizeConfig,
        SpatialPyramidPoolingQuantizeConfig,
    )
}


def default_quantize_config(layer):
    """The QuantizeConfig for one of our ``tf_keras`` layers (``ValueError`` for any other)."""
    config = QUANTIZE_CONFIGS.get(type(layer))
    if config is None:
        raise ValueError(
            f"default_quantize_config: no QuantizeConfig for layer {layer.name!r} of type "
            f"{type(layer).__name__}; expected one of "
            f"{sorted(c.__name__ for c in QUANTIZE_CONFIGS)}."
        )
    return config()


def _inbound_layers(layer):
    return [inbound for node in layer.inbound_nodes
            for inbound in tf.nest.flatten(node.inbound_layers)]


def _is_ours(layer):
    return type(getattr(layer, "layer", None)) in QUANTIZE_CONFIGS


def quantize_annotate_model(model):
    """``tfmot.quantization.keras.quantize_annotate_model``, with our layers' QuantizeConfigs.

    Every layer is annotated; ours get :func:`default_quantize_config` (TFMOT's registry does
    not know them), the built-in ones TFMOT's default. A ``BatchNormalization`` fed by one of
    our layers gets TFMOT's ``Default8BitOutputQuantizeConfig`` (its output quantized): TFMOT
    handles a BatchNormalization only after its own Conv2D / DepthwiseConv2D / Dense (which it
    folds) and refuses any other (``Layer conv1_bn ... is not supported``). In TFLite it stays
    a per-channel MUL + ADD in int8 after our layer. Follow with ``quantize_apply`` inside
    :func:`quantize_scope`.
    """
    annotated = tfmot.quantization.keras.quantize_annotate_model(model)
    consumers = {}
    for wrapper in annotated.layers:
        for inbound in _inbound_layers(wrapper):
            consumers.setdefault(id(inbound), []).append(wrapper)
    for wrapper in annotated.layers:
        inner = getattr(wrapper, "layer", None)
        if getattr(wrapper, "quantize_config", True) is not None:
            continue
        if type(inner) in QUANTIZE_CONFIGS:
            wrapper.quantize_config = default_quantize_config(inner)
            following = consumers.get(id(wrapper), [])
            if (isinstance(inner, _layers.SpaceToDepthConv) and len(following) == 1
                    and isinstance(following[0].layer, _BATCH_NORMS)
                    and inner.conv.activation is tf_keras.activations.linear):
                wrapper.quantize_config = SpaceToDepthConvQuantizeConfig(fold_batch_norm=True)
        elif isinstance(inner, _BATCH_NORMS) and any(map(_is_ours, _inbound_layers(wrapper))):
            wrapper.quantize_config = _default_8bit_configs.Default8BitOutputQuantizeConfig()
    return annotated


def quantize_scope(*args):
    """TFMOT's ``quantize_scope`` plus our layers and QuantizeConfigs (and ``args`` dicts)."""
    objects = dict(_layers.CUSTOM_OBJECTS)
    objects.update({config.__name__: config for config in QUANTIZE_CONFIGS.values()})
    for extra in args:
        objects.update(extra)
    return tfmot.quantization.keras.quantize_scope(objects)


_FOLDABLE_CONVS = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D)


def _fold_target(bn):
    """The conv ``bn`` can be folded into, or None: a channels-last ``Conv2D`` /
    ``DepthwiseConv2D`` without activation, called once, whose only consumer is ``bn``."""
    if len(bn.inbound_nodes) != 1 or list(bn.axis) not in ([-1], [3]):
        return None
    conv = bn.inbound_nodes[0].inbound_layers
    if (type(conv) not in _FOLDABLE_CONVS or conv.activation is not tf_keras.activations.linear
            or conv.data_format != "channels_last" or len(conv.inbound_nodes) != 1
            or len(conv.outbound_nodes) != 1):
        return None
    return conv


def _folded_weights(conv, bn):
    """``conv``'s (kernel, bias) with the inference-mode ``bn`` after it folded in."""
    gamma = 1.0 if bn.gamma is None else bn.gamma.numpy()  # None: scale=False
    beta = 0.0 if bn.beta is None else bn.beta.numpy()  # None: center=False
    scale = gamma / np.sqrt(bn.moving_variance.numpy() + bn.epsilon)
    kernel = conv.get_weights()[0]
    bias = conv.get_weights()[1] if conv.use_bias else np.zeros(scale.shape, kernel.dtype)
    if isinstance(conv, tf_keras.layers.DepthwiseConv2D):  # output c * multiplier + m: [.., c, m]
        scale = scale.reshape(kernel.shape[2:])
    folded = kernel * scale
    bias = beta + (bias - bn.moving_mean.numpy()) * scale.ravel()
    return folded.astype(kernel.dtype), bias.astype(kernel.dtype)


def fold_batch_norms(model):
    """An equivalent ``tf_keras`` model (inference) in which every ``BatchNormalization`` after
    a linear ``Conv2D`` / ``DepthwiseConv2D`` that feeds only it is folded into that conv's
    kernel and bias, before ``quantize_apply``.

    TFMOT's QAT keeps such a BN separate (``Conv2DBatchNormQuantize``: the conv's kernel
    fake-quantized, then the BN in float) while the TFLite converter folds the BN scale into the
    kernel and quantizes the folded kernel per channel; a ``DepthwiseConv2D`` kernel is
    quantized per tensor by TFMOT (its ranges have ``kernel.shape[-1]`` = 1 entries). Folded
    first, QAT simulates the kernel that TFLite runs. Other layers are copied (config and
    weights); a BN after our layers (CAS: the shift does not commute with the gate) stays.
    """
    folds = {}  # id(conv) -> bn
    for layer in model.layers:
        conv = _fold_target(layer) if isinstance(layer, _BATCH_NORMS) else None
        if conv is not None:
            folds[id(conv)] = layer
    folded_bns = {id(bn) for bn in folds.values()}

    def replace(layer):
        if id(layer) in folded_bns:
            return None, None
        config, weights = layer.get_config(), layer.get_weights()
        if id(layer) in folds:
            config["use_bias"] = True
            weights = _folded_weights(layer, folds[id(layer)])
        return type(layer).from_config(config), lambda new: new.set_weights(weights)

    return _rebuild(model, tf_keras, replace)


class _KernelKeepingLayoutTransform(_layout.Default8BitQuantizeLayoutTransform):
    """TFMOT's default 8-bit layout transform, except that a ``Conv2D`` / ``DepthwiseConv2D``
    before a ``ReLU`` keeps its kernel's fake quantization.

    TFMOT's ``LayerReLUQuantize`` (meant for ``Add`` + ``ReLU``) gives such a conv a
    ``NoOpQuantizeConfig``, which quantizes nothing, its kernel included: QAT then trains and
    evaluates a float kernel that TFLite runs in int8 (every conv of a model after
    :func:`fold_batch_norms`). Here it gets TFMOT's conv config with the kernel quantized and
    no output range (the ReLU after it has one; TFLite fuses them).
    """

    def apply(self, model, layer_quantize_map):
        model, layer_quantize_map = super().apply(model, layer_quantize_map)
        for layer in model.layers:
            config = layer_quantize_map.get(layer.name, {}).get("quantize_config")
            if type(layer) in _FOLDABLE_CONVS and type(config) is _NoOpQuantizeConfig:
                kernel = ("depthwise_kernel" if isinstance(layer, tf_keras.layers.DepthwiseConv2D)
                          else "kernel")
                layer_quantize_map[layer.name]["quantize_config"] = (
                    _registry.Default8BitConvQuantizeConfig([kernel], [], False))
        return model, layer_quantize_map


class FoldedQuantizeScheme(_scheme.Default8BitQuantizeScheme):
    """TFMOT's default 8-bit scheme for a model after :func:`fold_batch_norms`: every conv
    kernel fake-quantized (``quantize_apply(model, scheme=FoldedQuantizeScheme())``)."""

    def get_layout_transformer(self):
        return _KernelKeepingLayoutTransform()
