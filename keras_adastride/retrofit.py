"""Retrofit: :func:`convert` puts CAS / PAS / SPD-Conv into a model the user already has.

The model's graph is rebuilt with ``keras.models.clone_model`` (a ``clone_function`` swaps the
chosen layers and rebuilds nested functional / Sequential models the same way; shared layers stay
shared); every layer keeps its name, every kept layer its weights, and a replacement
gets the weights of the layer it replaces:

==========================  =====================================  ===========================
layer                       ``to="cas"`` / ``"pas"``               ``to="spd"`` (stride >= 2)
==========================  =====================================  ===========================
``Conv2D``                  CAS, same arguments and kernel         SpaceToDepthConv, kernel
                            (exact: identity gate)                 rearranged (exact, below)
``DepthwiseConv2D``         CAS with ``groups`` = channels, the    kept (would change the
                            kernel reshaped (exact)                channel count)
``MaxPooling2D`` /          PAS (exact); CAS (kernel = window,     SpaceToDepthConv 1x1, starts
``AveragePooling2D``,       starts as average pooling: exact for   as b×b average pooling
strides > 1                 a "valid" average pooling)             (exact only for that pool)
==========================  =====================================  ===========================

SPD-Conv at a conv site: a stride-S conv with kernel k reads, for output i, input rows S·i + o
for k offsets o; a stride-1 conv after ``SpaceToDepth(S)`` reads rows S·(i + u') + a. The
smallest kernel k' whose taps (u', a) cover every o ("valid": k' = ceil(k / S)) gets the
original weights at the matching taps and zeros elsewhere, so the SPD model starts as the
original wherever the input size at that layer is a multiple of S ("same") or always ("valid",
when the output sizes agree). A replacement whose output shape would differ is never made.

Paper's placements (``placements=None``; the paper puts CAS "in the front and middle" of the
network and PAS at the second pooling layer): "cas": the first conv (front) and the middle one of
the convs with a kernel larger than 1x1 (index n // 2 in graph order; the gate's first conv has
the conv's window, at a 1x1 conv it would see one pixel); "pas": the second strided pooling (the
first when there is only one); "spd": every strided conv and pooling, as SPD-Conv does. For
MobileNet and ResNet this gives the sites our builders use (``conv1`` + ``conv_dw_7``;
``conv1_conv`` + ``conv4_block1_2_conv``).
"""

import dataclasses

import numpy as np

import keras
from keras.src.models.functional import Functional  # what clone_model itself descends into

from keras_adastride.layers import CAS, PAS, SpaceToDepthConv
from keras_adastride.layers.adaptive_stride import GATE_ARGUMENTS
from keras_adastride.layers.main_conv import CONV2D_ARGUMENTS

TARGETS = ("cas", "pas", "spd")
_POOLS = {keras.layers.MaxPooling2D: "max", keras.layers.AveragePooling2D: "average"}
#: DepthwiseConv2D argument -> the CAS (Conv2D) argument it becomes.
_DEPTHWISE_ARGUMENTS = {
    "kernel_size": "kernel_size", "strides": "strides", "padding": "padding",
    "data_format": "data_format", "dilation_rate": "dilation_rate",
    "activation": "activation", "use_bias": "use_bias",
    "depthwise_initializer": "kernel_initializer", "bias_initializer": "bias_initializer",
    "depthwise_regularizer": "kernel_regularizer", "bias_regularizer": "bias_regularizer",
    "bias_constraint": "bias_constraint",
}


@dataclasses.dataclass(frozen=True)
class Site:
    """One layer :func:`convert` looked at (the dry run's entries).

    ``name``: the layer's name (``"nested_model/layer"`` inside a nested model); ``replaced``:
    whether it is (would be) replaced; ``replacement``: the new layer's class name; ``exact``:
    the replacement starts as the same function for this model's input shapes; ``reason``: why.
    """

    name: str
    layer_class: str
    replaced: bool
    replacement: str = None
    exact: bool = None
    reason: str = ""

    def __str__(self):
        action = f"-> {self.replacement}" if self.replaced else "kept"
        start = "" if not self.replaced else " (exact start)" if self.exact else " (approx. start)"
        return f"{self.name} ({self.layer_class}) {action}{start}: {self.reason}"


@dataclasses.dataclass
class _Candidate:
    """A layer ``to`` can replace: how to build its replacement and give it the weights."""

    name: str
    layer: object
    kind: str  # "conv" (Conv2D / DepthwiseConv2D) or "pool"
    downsampling: bool
    make: object  # () -> new layer
    transfer: object  # (old, new) -> None
    exact: bool
    how: str
    replacement: str  # the new layer's class name

    def site(self, replaced, why):
        return Site(self.name, type(self.layer).__name__, replaced,
                    self.replacement if replaced else None, self.exact if replaced else None,
                    f"{why}; {self.how}" if replaced else why)


def convert(model, to="cas", placements=None, gate_options=None, dry_run=False):
    """Return a copy of ``model`` with downsampling layers replaced by CAS, PAS or SPD-Conv.

    Args:
        model: a built functional or Sequential ``keras.Model`` (nested functional / Sequential
            models are descended into; the input model is not changed).
        to: "cas", "pas" or "spd" (see the module table).
        placements: None (the paper's placements, see the module doc), "all" (every layer ``to``
            can replace), a list of layer names (``"inner_model/layer"`` or a unique bare name),
            or a callable ``layer -> bool`` asked about every layer ``to`` can replace.
        gate_options: CAS / PAS gate arguments (``gate_width``, ``target_stride``, ...).
        dry_run: return the list of :class:`Site` (replaced and kept layers, with reasons)
            instead of converting.

    Returns:
        The converted model (same class for functional and Sequential models, same names,
        inputs and outputs; kept layers keep weights and ``trainable``), or the dry run's list.

    Raises:
        ValueError: bad arguments, a model without a layer graph (subclassed), a named layer that
            cannot be replaced (the message gives the layer and the reason), or nothing to replace.
    """
    to = _check_target(to)
    gate_options = _check_gate_options(to, gate_options)
    placements = _check_placements(placements)
    _check_model(model)
    candidates, skipped = _examine(model, to, gate_options)
    chosen, why = _choose(model, to, placements, candidates, skipped)
    sites = [c.site(c.name in chosen, why[c.name]) for c in candidates] + skipped
    if dry_run:
        return sites
    if not chosen:
        raise ValueError(
            f"convert: nothing to replace in model {model.name!r} with to={to!r} and "
            f"placements={placements!r}; kept: {'; '.join(map(str, sites)) or 'no candidate'}."
        )
    replace = {id(c.layer): c for c in candidates if c.name in chosen}
    pairs = []

    def clone_function(layer):
        if isinstance(layer, (Functional, keras.Sequential)):
            return _rebuild(layer, clone_function)
        candidate = replace.get(id(layer))
        new = candidate.make() if candidate else layer.__class__.from_config(layer.get_config())
        pairs.append((layer, new, candidate))
        return new

    converted = _rebuild(model, clone_function)
    for old, new, candidate in pairs:
        if candidate is None:
            new.set_weights(old.get_weights())
        else:
            candidate.transfer(old, new)
        new.trainable = old.trainable
    return converted


def _rebuild(model, clone_function):
    """``keras.models.clone_model`` on inputs named as the model's (it would name a functional
    model's inputs after their tensors, and the input names are the serving signature's keys)."""
    if isinstance(model, keras.Sequential):
        return keras.models.clone_model(model, clone_function=clone_function)
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype,
                              name=t._keras_history.operation.name),
        model.input,
    )
    return keras.models.clone_model(model, input_tensors=inputs, clone_function=clone_function)


def _check_target(to):
    if to not in TARGETS:
        raise ValueError(
            f"convert: argument `to` must be one of {list(TARGETS)}; received to={to!r}."
        )
    return to


def _check_gate_options(to, gate_options):
    options = dict(gate_options or {})
    unknown = sorted(set(options) - set(GATE_ARGUMENTS))
    if unknown:
        raise ValueError(
            f"convert: `gate_options` takes CAS/PAS gate arguments {list(GATE_ARGUMENTS)}; "
            f"received unknown keys {unknown} in gate_options={gate_options!r}."
        )
    if options and to == "spd":
        raise ValueError(
            f"convert: SpaceToDepthConv has no gate; `gate_options` must be None with to='spd'; "
            f"received gate_options={gate_options!r}."
        )
    return options


def _check_placements(placements):
    if placements is None or callable(placements) or (
            isinstance(placements, str) and placements == "all"):
        return placements
    if (isinstance(placements, (list, tuple, set, frozenset)) and placements
            and all(isinstance(p, str) for p in placements)):
        return tuple(placements)
    raise ValueError(
        "convert: argument `placements` must be None, 'all', a non-empty list of layer names "
        f"or a callable(layer) -> bool; received placements={placements!r}."
    )


def _check_model(model):
    if not isinstance(model, (Functional, keras.Sequential)):
        raise ValueError(
            f"convert: argument `model` must be a functional or Sequential keras.Model; received "
            f"{type(model).__name__} {getattr(model, 'name', model)!r}. A subclassed model has no "
            "layer graph to rebuild: convert the functional parts it holds, or rebuild it from "
            "functional parts."
        )
    if isinstance(model, keras.Sequential) and not model.built:
        raise ValueError(
            f"convert: Sequential model {model.name!r} is not built; give it an `Input` (or call "
            "`model.build(input_shape)`) first."
        )


def _walk(model, prefix=""):
    """``(name, layer)`` in graph order, nested functional / Sequential models expanded."""
    for layer in model.layers:
        if isinstance(layer, (Functional, keras.Sequential)):
            yield from _walk(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


def _examine(model, to, gate_options):
    """Candidates (layers ``to`` can replace) and skipped layers (as :class:`Site`)."""
    candidates, skipped = [], []
    for name, layer in _walk(model):
        if isinstance(layer, keras.Model):
            skipped.append(Site(name, type(layer).__name__, False, reason=(
                "nested model that is not functional or Sequential: not descended into, its "
                "layers are kept as they are")))
            continue
        found = _candidate(name, layer, to, gate_options)
        if isinstance(found, str):
            skipped.append(Site(name, type(layer).__name__, False, reason=found))
        elif found is not None:
            candidates.append(found)
    return candidates, skipped


def _shapes(layer, which):
    """The static shapes of the layer's first input (or output) at every call in the graph."""
    return [tuple(getattr(node, which)[0].shape) for node in layer._inbound_nodes]


def _strided(strides):
    return max(strides) > 1


def _candidate(name, layer, to, gate_options):
    """A :class:`_Candidate`, the reason ``to`` cannot replace the layer, or None (not a kind of
    layer ``to`` replaces)."""
    kind = type(layer)
    if kind is keras.layers.Conv2D:
        kind_name, downsampling = "conv", _strided(layer.strides)
        if to == "pas" or (to == "spd" and not downsampling):
            return None
    elif kind is keras.layers.DepthwiseConv2D:
        kind_name, downsampling = "conv", _strided(layer.strides)
        if to == "pas" or (to == "spd" and not downsampling):
            return None
        if to == "spd":
            return ("SpaceToDepthConv would turn C channels into 4C, which the next layer does "
                    "not take; use to='cas' for depthwise layers")
    elif kind in _POOLS and _strided(layer.strides):
        kind_name, downsampling = "pool", True
    elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                            keras.layers.SeparableConv2D, *_POOLS)) and _strided(layer.strides):
        return (f"{kind.__name__} is not one of Conv2D, DepthwiseConv2D, MaxPooling2D, "
                "AveragePooling2D (a subclass may compute something else): kept")
    else:
        return None
    unsupported = _unsupported(layer)
    if unsupported:
        return unsupported
    if kind_name == "pool":
        found = _pool_candidate(name, layer, to, gate_options)
    elif to == "cas":
        found = _cas_candidate(name, layer, gate_options)
    else:
        found = _spd_candidate(name, layer)
    if isinstance(found, str):
        return found
    make, transfer, exact, how = found
    probe = make()
    expected = _shapes(layer, "output_tensors")
    got = [tuple(probe.compute_output_shape(shape)) for shape in _shapes(layer, "input_tensors")]
    if got != expected:
        return (f"{type(probe).__name__} would give output shape {got[0]} where the layer gives "
                f"{expected[0]}: kept")
    return _Candidate(name, layer, kind_name, downsampling, make, transfer, exact, how,
                      type(probe).__name__)


def _unsupported(layer):
    """Why a layer of a supported class still cannot be replaced, or None."""
    if getattr(layer, "lora_enabled", False):
        return "LoRA is enabled on the layer (the replacements have no LoRA): kept"
    if getattr(layer, "quantization_mode", None):
        return f"quantized layer ({layer.quantization_mode}): kept"
    if isinstance(layer, keras.layers.DepthwiseConv2D) and layer.depthwise_constraint is not None:
        return ("`depthwise_constraint` is set: it does not carry over to a grouped conv's "
                "kernel: kept")
    return None


def _layer_kwargs(layer):
    return dict(name=layer.name, dtype=layer.dtype_policy)


def _cas_candidate(name, layer, gate_options):
    # imported here: `import keras_adastride` must not load the builders (saved models load
    # with the top-level import alone)
    from keras_adastride.models._downsampling import depthwise_cas

    config = layer.get_config()
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        arguments = {new: config[old] for old, new in _DEPTHWISE_ARGUMENTS.items()}
        channels = layer.kernel.shape[2]

        def make():
            return depthwise_cas(channels, depth_multiplier=layer.depth_multiplier,
                                 gate_options=gate_options, **arguments,
                                 activity_regularizer=config["activity_regularizer"],
                                 **_layer_kwargs(layer))

        def transfer(old, new):
            kernel = np.asarray(old.kernel)
            new.conv.kernel.assign(kernel.reshape(*kernel.shape[:2], 1, -1))
            if old.use_bias:
                new.conv.bias.assign(old.bias)

        how = "grouped CAS (groups = channels), kernel reshaped, identity gate"
        return make, transfer, True, how
    arguments = {key: config[key] for key in CONV2D_ARGUMENTS}

    def make():
        return CAS(**arguments, activity_regularizer=config["activity_regularizer"],
                   **gate_options, **_layer_kwargs(layer))

    def transfer(old, new):
        new.conv.set_weights(old.get_weights())

    return make, transfer, True, "CAS with the conv's arguments and weights, identity gate"


def _pool_candidate(name, layer, to, gate_options):
    from keras_adastride.models._downsampling import pool_site_layer  # see _cas_candidate

    mode = _POOLS[type(layer)]
    input_shape = _shapes(layer, "input_tensors")[0]
    channels_first = layer.data_format == "channels_first"
    channels = input_shape[1 if channels_first else -1]
    spatial = input_shape[2:] if channels_first else input_shape[1:3]
    if to == "pas":
        exact, how = True, "PAS with the pooling's arguments, identity gate"
    elif to == "cas":
        exact = mode == "average" and layer.padding == "valid"
        how = "CAS (kernel = pool window) starting as average pooling, identity gate"
    else:
        square = layer.strides[0] == layer.strides[1]
        if not square:
            return f"SpaceToDepth needs a square stride; received strides={layer.strides}: kept"
        block = layer.strides[0]
        exact = (mode == "average" and layer.padding == "valid"
                 and tuple(layer.pool_size) == (block, block)
                 and all(size is not None and size % block == 0 for size in spatial))
        how = (f"SpaceToDepthConv (block {block}, 1x1 conv) starting as {block}x{block} average "
               "pooling")
    options = gate_options if to != "spd" else {}

    def make():
        return pool_site_layer(to, channels, layer.pool_size, strides=layer.strides,
                               padding=layer.padding, mode=mode, gate_options=options,
                               data_format=layer.data_format, **_layer_kwargs(layer))

    def transfer(old, new):
        """Nothing to carry: a pooling has no weights (the new kernel is the averaging one)."""

    return make, transfer, exact, how


def _spd_taps(kernel_size, stride, padding):
    """One axis of a stride-``stride`` conv as a stride-1 conv after SpaceToDepth(stride).

    Returns ``(k', taps)``: for original tap u (input offset o = u - pad_before from S·i),
    ``taps[u] = (u', a)`` with S·(u' - pad_before') + a = o, and k' the smallest kernel whose
    taps cover every o.
    """
    if padding == "valid":
        return -(-kernel_size // stride), [divmod(u, stride) for u in range(kernel_size)]
    before = max(kernel_size - stride, 0) // 2  # TensorFlow "same" padding, size a multiple of S
    size = 1
    while not (stride * ((size - 1) // 2) >= before
               and stride * (size - (size - 1) // 2) >= kernel_size - before):
        size += 1
    new_before = (size - 1) // 2
    return size, [((u - before) // stride + new_before, (u - before) % stride)
                  for u in range(kernel_size)]


def _spd_candidate(name, layer):
    strides, dilation = tuple(layer.strides), tuple(layer.dilation_rate)
    if strides[0] != strides[1]:
        return f"SpaceToDepth needs a square stride; received strides={strides}: kept"
    if layer.groups != 1:
        return (f"grouped conv (groups={layer.groups}): the space-to-depth channel order does not "
                "keep the groups apart: kept")
    stride = strides[0]
    (kh, rows), (kw, cols) = (_spd_taps(k, stride, layer.padding) for k in layer.kernel_size)
    config = layer.get_config()
    arguments = {key: config[key] for key in CONV2D_ARGUMENTS
                 if key not in ("strides", "kernel_size")}
    channels_first = layer.data_format == "channels_first"
    spatial = [shape[2:] if channels_first else shape[1:3]
               for shape in _shapes(layer, "input_tensors")]
    exact = layer.padding == "valid" or all(
        size is not None and size % stride == 0 for sizes in spatial for size in sizes)

    def make():
        return SpaceToDepthConv(kernel_size=(kh, kw), block_size=stride, pad_to_multiple=True,
                                **arguments, activity_regularizer=config["activity_regularizer"],
                                **_layer_kwargs(layer))

    def transfer(old, new):
        kernel = np.asarray(old.kernel)
        channels = kernel.shape[2]
        rearranged = np.zeros(tuple(new.conv.kernel.shape), kernel.dtype)
        for u, (row, a) in enumerate(rows):
            for v, (col, b) in enumerate(cols):
                phase = (a * stride + b) * channels  # SpaceToDepth "tensorflow" channel order
                rearranged[row, col, phase:phase + channels] = kernel[u, v]
        new.conv.kernel.assign(rearranged)
        if old.use_bias:
            new.conv.bias.assign(old.bias)

    how = (f"SpaceToDepthConv (block {stride}, {kh}x{kw} kernel holding the original taps)"
           + ("" if exact else "; exact only where height and width are multiples of the stride"))
    return make, transfer, exact, how


def _choose(model, to, placements, candidates, skipped):
    """The names of the chosen candidates, and for every candidate why (not) chosen."""
    names = [c.name for c in candidates]
    if placements is None:
        chosen = _paper_placements(to, candidates)
        return chosen, {n: "paper's placement" if n in chosen else
                        "not a paper's placement (name it in `placements` to replace it)"
                        for n in names}
    if placements == "all":
        return set(names), {n: "placements='all'" for n in names}
    if callable(placements):
        chosen = {c.name for c in candidates if placements(c.layer)}
        return chosen, {n: "placements(layer) is True" if n in chosen else
                        "placements(layer) is False" for n in names}
    chosen = {_resolve(model, to, p, candidates, skipped) for p in placements}
    return chosen, {n: "named in placements" if n in chosen else "not named in placements"
                    for n in names}


def _paper_placements(to, candidates):
    """The paper's rule (module doc) over the candidates, in graph order."""
    if to == "cas":
        convs = [c for c in candidates if c.kind == "conv"]
        spatial = [c.name for c in convs if max(c.layer.kernel_size) > 1]
        return {convs[0].name, spatial[len(spatial) // 2]} if spatial else set()
    if to == "pas":
        pools = [c.name for c in candidates if c.kind == "pool"]
        return {pools[1] if len(pools) > 1 else pools[0]} if pools else set()
    return {c.name for c in candidates if c.downsampling}


def _resolve(model, to, wanted, candidates, skipped):
    """The candidate name ``wanted`` refers to (a full name or a unique bare layer name)."""
    for group in (candidates, skipped):
        matches = [s.name for s in group if s.name == wanted or s.name.split("/")[-1] == wanted]
        exact = [m for m in matches if m == wanted]
        matches = exact or matches
        if len(matches) > 1:
            raise ValueError(
                f"convert: placements entry {wanted!r} matches layers {matches} of model "
                f"{model.name!r}; name one as 'nested_model/layer'."
            )
        if matches and group is candidates:
            return matches[0]
        if matches:
            site = next(s for s in skipped if s.name == matches[0])
            raise ValueError(
                f"convert: layer {site.name!r} ({site.layer_class}) named in `placements` cannot "
                f"be converted with to={to!r}: {site.reason}."
            )
    layer = next((layer for name, layer in _walk(model)
                  if wanted in (name, name.split("/")[-1])), None)
    if layer is not None:
        raise ValueError(
            f"convert: layer {wanted!r} ({type(layer).__name__}) named in `placements` is not a "
            f"layer to={to!r} replaces ({_replaces(to)})."
        )
    raise ValueError(
        f"convert: placements entry {wanted!r} is not a layer of model {model.name!r}; layers "
        f"to={to!r} can replace: {[c.name for c in candidates]}."
    )


def _replaces(to):
    pools = "MaxPooling2D / AveragePooling2D with strides > 1"
    return {"cas": f"Conv2D, DepthwiseConv2D, {pools}", "pas": pools,
            "spd": f"Conv2D with strides > 1, {pools}"}[to]
