"""Carry a model between Keras 3 and ``tf_keras``: same layers, same weights, same outputs.

    to_tf_keras(keras3_model)   -> tf_keras model (TFMOT prunes / quantizes it)
    to_keras3(tf_keras_model)   -> Keras 3 model (e.g. after ``strip_pruning``)

Each layer is rebuilt from its own ``get_config()`` by the class of the same name in the other
generation (``keras.layers.Conv2D`` <-> ``tf_keras.layers.Conv2D``, ``keras_adastride.CAS`` <->
``keras_adastride.tfmot.CAS``), its weights copied in order (``get_weights`` / ``set_weights``:
both generations create them in the same order), and the graph replayed node by node.

Written by hand, and why:
- The graph walk. ``keras.models.clone_model`` only builds Keras 3 layers and ``tf_keras``'s
  ``clone_model`` only ``tf_keras`` ones; the two functional configs differ in how they record
  inbound nodes. Both generations keep ``_nodes_by_depth`` and nodes that record their call
  arguments; :class:`_Graph` reads either.
- The config translation. The generations serialize nested objects differently (Keras 3
  ``DTypePolicy`` vs ``tf_keras`` ``Policy``; ``keras.initializers.GlorotUniform`` has
  ``input_axes`` / ``output_axes`` that ``tf_keras``'s lacks). Nested objects are rebuilt by the
  other generation's class of the same name; a key the target class does not take is dropped
  when it holds the source's default and refused otherwise.

Refused, with a ``ValueError`` naming the layer: layers with no same-named class in the other
generation (custom layers, ``Lambda`` / TF-op layers, which hold Python code), Keras 3 ops used
directly on symbolic tensors, non-default arguments the target cannot take, and TFMOT wrappers
on the way back (``strip_pruning`` first; a QAT model deploys as int8 TFLite, it has no Keras 3
counterpart).
"""

import inspect

import keras
import tensorflow as tf
import tf_keras

import keras_adastride
from keras_adastride.tfmot import layers as _tf_keras_layers

_QAT_HINT = ("a QAT model deploys as int8 TFLite (keras_adastride.tfmot.tflite.to_tflite(model, "
             "quantize=True)); it has no Keras 3 counterpart")
#: TFMOT wrappers and what to do instead of carrying them to Keras 3.
_TFMOT_WRAPPERS = {
    "PruneLowMagnitude": "call tfmot.sparsity.keras.strip_pruning(model) first",
    "QuantizeWrapper": _QAT_HINT,
    "QuantizeWrapperV2": _QAT_HINT,
    "QuantizeLayer": _QAT_HINT,
    "QuantizeAnnotate": "annotations are for quantize_apply; carry the unannotated model",
}


class _Generation:
    """One side of the bridge: its Keras module and our classes (layers, initializers) in it."""

    def __init__(self, name, module, ours):
        self.name, self.keras, self.ours = name, module, ours

    def layer_class(self, layer):
        """The class of ``layer``'s counterpart in this generation (source: the other one)."""
        name = type(layer).__name__
        if name in self.ours:
            return self.ours[name]
        builtin = getattr(self.keras.layers, name, None)
        source_module = type(layer).__module__
        if name in ("Lambda", "TFOpLambda"):
            raise ValueError(
                f"{self.name} bridge: cannot carry layer {layer.name!r} of type {name}: it holds "
                "Python code of one generation; replace it by a layer."
            )
        if builtin is None or source_module.split(".")[0] not in ("keras", "tf_keras"):
            hint = _TFMOT_WRAPPERS.get(name, "no same-named layer class in the other generation")
            raise ValueError(
                f"{self.name} bridge: cannot carry layer {layer.name!r} of type {name} "
                f"({source_module}): {hint}."
            )
        return builtin

    def object_class(self, module, class_name):
        """The class of a nested serialized object (initializer, regularizer, ...) or None."""
        if module.startswith("keras_adastride"):
            return self.ours.get(class_name)
        family = module.split(".")[-1] if module.startswith("keras.") else None
        return getattr(getattr(self.keras, family, None), class_name, None) if family else None


def _ours(*modules):
    return {
        name: obj for module in modules for name, obj in vars(module).items()
        if isinstance(obj, type) and obj.__module__.startswith("keras_adastride")
    }


KERAS3 = _Generation(
    "Keras 3", keras, _ours(keras_adastride.layers, keras_adastride.initializers)
)
TF_KERAS = _Generation("tf_keras", tf_keras, dict(_tf_keras_layers.CUSTOM_OBJECTS))

#: Config keys whose form differs between the generations beyond nested objects (hand-written:
#: ``tf_keras`` stores BatchNormalization's axis as a list, Keras 3 as one int).
_LIST_TO_INT = {("Keras 3", "BatchNormalization"): "axis"}


def _init_parameters(cls):
    """``{name: default}`` of every named ``__init__`` parameter along ``cls``'s MRO."""
    parameters = {}
    for klass in reversed(cls.__mro__):
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            signature = inspect.signature(init)
        except (TypeError, ValueError):
            continue
        for p in signature.parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                parameters[p.name] = p.default
    return parameters


def _same_as_default(value, default):
    if default is inspect.Parameter.empty:
        return False
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return list(value) == list(default)
    return value == default or (value in (None, False) and default in (None, False))


def _filtered(config, source_cls, target_cls, what):
    """``config`` less the keys ``target_cls`` does not take (each must hold its default)."""
    accepted = _init_parameters(target_cls)
    defaults = _init_parameters(source_cls)
    kept = {}
    for key, value in config.items():
        if key in accepted:
            kept[key] = value
        elif not _same_as_default(value, defaults.get(key, inspect.Parameter.empty)):
            raise ValueError(
                f"{what}: argument {key}={value!r} has no counterpart in "
                f"{target_cls.__module__}.{target_cls.__name__}."
            )
    return kept


def _translate(value, target, what):
    """A config value for ``target``: nested serialized objects rebuilt by its classes."""
    if isinstance(value, dict) and "class_name" in value and "config" in value:
        class_name, module = value["class_name"], value.get("module") or ""
        if class_name in ("DTypePolicy", "Policy", "FloatDTypePolicy"):
            return value["config"]["name"]
        cls = target.object_class(module, class_name)
        if cls is None:
            raise ValueError(
                f"{what}: cannot carry the nested object {class_name} ({module or 'no module'}) "
                f"to {target.name}."
            )
        source = KERAS3 if target is TF_KERAS else TF_KERAS
        source_cls = source.object_class(module, class_name) or cls
        config = {k: _translate(v, target, what) for k, v in value["config"].items()}
        return cls.from_config(_filtered(config, source_cls, cls, f"{what} {class_name}"))
    if isinstance(value, dict):
        return {k: _translate(v, target, what) for k, v in value.items()}
    return value


def _convert_layer(layer, target):
    """A new ``target`` layer with ``layer``'s config (weights come after it is built)."""
    if isinstance(layer, (keras.Model, tf_keras.Model)):
        return _convert_model(layer, target)
    cls = target.layer_class(layer)
    what = f"layer {layer.name!r} ({type(layer).__name__})"
    config = {k: _translate(v, target, what) for k, v in layer.get_config().items()}
    key = _LIST_TO_INT.get((target.name, cls.__name__))
    if key and isinstance(config.get(key), (list, tuple)):
        if len(config[key]) != 1:
            raise ValueError(f"{what}: {key}={list(config[key])} has no Keras 3 counterpart.")
        config[key] = int(config[key][0])
    return cls.from_config(_filtered(config, type(layer), cls, what))


def _copy_weights(source, new, target):
    weights = source.get_weights()
    if len(weights) != len(new.weights) or any(
        tuple(w.shape) != tuple(v.shape) for w, v in zip(weights, new.weights)
    ):
        raise ValueError(
            f"{target.name} bridge: layer {source.name!r} ({type(source).__name__}) has weights "
            f"{[tuple(w.shape) for w in weights]} but its counterpart "
            f"{[tuple(v.shape) for v in new.weights]}."
        )
    new.set_weights(weights)


class _Graph:
    """The functional graph of a model of either generation, node by node from the inputs."""

    def __init__(self, model):
        self.keras3 = isinstance(model, keras.Model)
        # A Keras 3 Sequential keeps its graph in a functional model of its own.
        self.model = getattr(model, "_functional", None) or model if self.keras3 else model

    def nodes(self):
        by_depth = self.model._nodes_by_depth
        for depth in sorted(by_depth, reverse=True):
            yield from by_depth[depth]

    def operation(self, node):
        return node.operation if self.keras3 else node.layer

    def call(self, node):
        """(args, kwargs, flat outputs) of the node's call."""
        if self.keras3:
            return node.arguments.args, node.arguments.kwargs, list(node.outputs)
        return node.call_args, node.call_kwargs, tf.nest.flatten(node.outputs)

    def inputs(self):
        return self.model._inputs_struct if self.keras3 else self.model._nested_inputs

    def outputs(self):
        return self.model._outputs_struct if self.keras3 else self.model._nested_outputs

    def is_symbolic(self, x):
        if self.keras3:
            return isinstance(x, keras.KerasTensor)
        return tf_keras.backend.is_keras_tensor(x) if tf.is_tensor(x) else False


def _input_layer_of(tensor):
    return tensor._keras_history[0]


def _rebuild(model, keras_module, replace):
    """A ``keras_module`` functional model with ``model``'s graph, node by node, each layer
    replaced by ``replace(layer)`` -> ``(new layer, set_weights(new) or None)``, asked once per
    layer (a shared layer stays shared; its weights are set after its first call), or
    ``(None, None)`` to drop the layer (its output is then its first input)."""
    graph = _Graph(model)
    tensors = {}  # id(source tensor) -> new tensor

    def new_input(t):
        shape = tuple(t.shape)
        x = keras_module.Input(
            shape=shape[1:], batch_size=shape[0], dtype=tf.as_dtype(t.dtype).name, name=_input_layer_of(t).name
        )
        tensors[id(t)] = x
        return x

    inputs = tf.nest.map_structure(new_input, graph.inputs(), expand_composites=False)
    replaced = {}  # id(source layer) -> (new layer, weight setter)
    for node in graph.nodes():
        layer = graph.operation(node)
        if type(layer).__name__ == "InputLayer":
            continue
        args, kwargs, outputs = graph.call(node)
        swap = lambda x: tensors[id(x)] if graph.is_symbolic(x) else x  # noqa: E731
        args = tf.nest.map_structure(swap, list(args))
        kwargs = tf.nest.map_structure(swap, dict(kwargs))
        first_call = id(layer) not in replaced
        if first_call:
            replaced[id(layer)] = replace(layer)
        new, set_weights = replaced[id(layer)]
        results = [args[0]] if new is None else tf.nest.flatten(new(*args, **kwargs))
        if first_call and set_weights is not None:
            set_weights(new)
        for old, fresh in zip(outputs, results):
            tensors[id(old)] = fresh
    outputs = tf.nest.map_structure(lambda t: tensors[id(t)], graph.outputs())
    return keras_module.Model(inputs, outputs, name=model.name)


def _convert_model(model, target):
    if isinstance(model, (keras.Sequential, tf_keras.Sequential)) and not model.built:
        raise ValueError(f"model {model.name!r} is not built: give it an Input first.")

    def replace(layer):
        if not isinstance(layer, (keras.layers.Layer, tf_keras.layers.Layer)):
            raise ValueError(
                f"{target.name} bridge: cannot carry the operation {layer.name!r} of type "
                f"{type(layer).__name__} (an op applied to symbolic tensors): use a layer."
            )
        if isinstance(layer, (keras.Model, tf_keras.Model)):  # weights come with the model
            return _convert_layer(layer, target), None
        return _convert_layer(layer, target), lambda new: _copy_weights(layer, new, target)

    return _rebuild(model, target.keras, replace)


def to_tf_keras(model):
    """The ``tf_keras`` twin of a built Keras 3 functional or Sequential ``model``.

    Same layer names, configs and weights; outputs equal to the original's (to float rounding).
    Sequential models come back functional. Raises ``ValueError`` naming the first layer that
    cannot be carried (see the module docstring).
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"to_tf_keras expects a Keras 3 model; received {type(model).__module__}."
            f"{type(model).__name__}."
        )
    return _convert_model(model, TF_KERAS)


def to_keras3(model):
    """The Keras 3 twin of a built ``tf_keras`` functional or Sequential ``model`` (for example
    a pruned model after ``tfmot.sparsity.keras.strip_pruning``: its zeros come along).

    Raises ``ValueError`` naming the first layer that cannot be carried: TFMOT wrappers (strip
    pruning first; a QAT model has no Keras 3 counterpart) and the cases of :func:`to_tf_keras`.
    """
    if not isinstance(model, tf_keras.Model):
        raise ValueError(
            f"to_keras3 expects a tf_keras model; received {type(model).__module__}."
            f"{type(model).__name__}."
        )
    return _convert_model(model, KERAS3)
