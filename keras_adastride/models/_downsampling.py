"""How a model builds each downsampling *site*: the published op, CAS, PAS or SPD-Conv.

Every builder names its sites (the convs and poolings the paper's modules can replace) and
declares, per variant, which sites the variant may replace and which it replaces by default (the
paper's placements). :class:`Downsampling` resolves ``downsampling`` / ``placements`` once and
builds each site:

============  ======================================  ======================================
variant       at a conv site                          at a pooling site
============  ======================================  ======================================
``original``  ``Conv2D`` as published                 ``MaxPooling2D`` / ``AveragePooling2D``
``cas``       ``CAS`` with the conv's own arguments   ``CAS`` (C→C filters, kernel = pool
              (same shape; starts as that conv)       window, pool strides; starts as
                                                      average pooling)
``pas``       --                                      ``PAS`` with the pool's arguments
``spd``       ``SpaceToDepthConv``: block = the       ``SpaceToDepthConv``: block = the
              stride, stride-1 conv with the same     stride, 1x1 conv C·b²→C, starts as
              kernel (YOLOv5-SPD practice)            b×b average pooling
============  ======================================  ======================================

``pas-<pool_mode>`` (e.g. ``pas-median``; a ``-``, which model and scope names accept) is ``pas`` with that PAS ``pool_mode`` at every PAS site
instead of the published pool's kind (see :mod:`keras_adastride.layers.pooling.pool_modes`).

Sites not placed keep the published op. The CAS/PAS gates start as the identity
(``gate_init="identity"``), so with the original weights a CAS/PAS model starts as the original.
"""


import keras

from keras_adastride.initializers import AveragingKernel
from keras_adastride.layers import CAS, PAS, SpaceToDepthConv
from keras_adastride.layers.pooling.pool_modes import POOL_MODES

VARIANTS = ("original", "cas", "pas", "spd")


class Downsampling:
    """The resolved downsampling plan of one model.

    Args:
        model: builder name, for messages.
        downsampling: one of ``supported`` plus "original"; or "pas-<pool_mode>".
        placements: None (the paper's placements), "all", or an iterable of site names.
        supported: ``{variant: (sites it may replace, default sites)}`` for the variants this
            model supports besides "original".
        gate_options: extra keyword arguments for every CAS / PAS (``gate_width``, ...).
    """

    def __init__(self, model, downsampling, placements, supported, gate_options=None):
        self.model = model
        choices = ("original", *supported)
        variant, dash, pool_mode = downsampling.partition("-") if isinstance(
            downsampling, str) else (downsampling, "", "")
        if variant not in choices or (dash and (variant != "pas" or pool_mode not in POOL_MODES)):
            raise ValueError(
                f"{model}: argument `downsampling` must be one of {list(choices)} for this model"
                + (f" or 'pas-<pool_mode>' with a pool_mode of {sorted(POOL_MODES)}"
                   if "pas" in supported else "")
                + f"; received downsampling={downsampling!r}."
            )
        self.variant = variant
        self.pool_mode = pool_mode or None  # PAS sites: this pool_mode, not the published one
        self.gate_options = dict(gate_options or {})
        if downsampling == "original":
            if placements:
                raise ValueError(
                    f"{model}: downsampling='original' replaces no site; `placements` must be "
                    f"None; received placements={placements!r}."
                )
            self.sites = frozenset()
            return
        allowed, default = supported[variant]
        if placements is None:
            chosen = tuple(default)
        elif placements == "all":
            chosen = tuple(allowed)
        else:
            chosen = tuple([placements] if isinstance(placements, str) else placements)
        unknown = [site for site in chosen if site not in allowed]
        if unknown or not chosen:
            raise ValueError(
                f"{model}: with downsampling={downsampling!r}, `placements` must be None, 'all' or "
                f"a non-empty list of sites from {list(allowed)}; received placements="
                f"{placements!r}."
            )
        self.sites = frozenset(chosen)

    def placed(self, name):
        """Whether site ``name`` gets the variant's layer."""
        return name in self.sites

    def conv(self, x, filters, kernel_size, *, name, strides=1, padding="valid", **conv_kwargs):
        """Conv site ``name``: ``Conv2D``, ``CAS`` or ``SpaceToDepthConv`` (see module table)."""
        if self.placed(name) and self.variant == "cas":
            return CAS(filters, kernel_size, strides=strides, padding=padding, name=name,
                       **conv_kwargs, **self.gate_options)(x)
        if self.placed(name) and self.variant == "spd":
            conv_kwargs.pop("dilation_rate", None)  # an SPD site is a downsampling conv
            return SpaceToDepthConv(filters, kernel_size, block_size=_stride(strides),
                                    pad_to_multiple=True, padding=padding, name=name,
                                    **conv_kwargs)(x)
        return keras.layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                                   name=name, **conv_kwargs)(x)

    def padded_conv(self, x, filters, kernel_size, *, name, pad, strides=1, **conv_kwargs):
        """``ZeroPadding2D(pad)`` (named ``{name}_pad``) + "valid" conv site ``name`` (the
        PyTorch-style explicit padding); an SPD-Conv there pads "same" instead (no extra pad)."""
        if self.placed(name) and self.variant == "spd":
            return self.conv(x, filters, kernel_size, name=name, strides=strides, padding="same",
                             **conv_kwargs)
        if pad:
            x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        return self.conv(x, filters, kernel_size, name=name, strides=strides, **conv_kwargs)

    def pool(self, x, pool_size, *, name, strides=None, padding="valid", mode="max"):
        """Pooling site ``name``: ``MaxPooling2D``/``AveragePooling2D``, ``PAS``, ``CAS`` or SPD."""
        strides = pool_size if strides is None else strides
        if self.placed(name):
            return pool_site_layer(self.variant, x.shape[-1], pool_size, strides=strides,
                                   padding=padding, mode=self.pool_mode or mode, name=name,
                                   gate_options=self.gate_options)(x)
        pooling = {"max": keras.layers.MaxPooling2D, "average": keras.layers.AveragePooling2D}
        return pooling[mode](pool_size, strides=strides, padding=padding, name=name)(x)


def pool_site_layer(variant, channels, pool_size, *, strides, padding, mode, name,
                    gate_options=None, **layer_kwargs):
    """The ``variant`` layer at a pooling site of ``channels`` channels (see the module table).

    PAS is the pooling itself (exact at start); CAS (C→C filters, kernel = pool window) and
    SPD-Conv (1x1 conv C·b²→C) start as average pooling (``AveragingKernel``). ``layer_kwargs``
    (``data_format``, ``dtype``) go to the layer.
    """
    gate_options = dict(gate_options or {})
    if variant == "pas":
        return PAS(pool_size, strides=strides, padding=padding, pool_mode=mode, name=name,
                   **layer_kwargs, **gate_options)
    if variant == "cas":
        return CAS(channels, pool_size, strides=strides, padding=padding, name=name,
                   kernel_initializer=AveragingKernel(), **layer_kwargs, **gate_options)
    if variant == "spd":
        return SpaceToDepthConv(channels, 1, block_size=_stride(strides), pad_to_multiple=True,
                                kernel_initializer=AveragingKernel(), name=name, **layer_kwargs)
    raise ValueError(f"pool_site_layer: no {variant!r} layer for a pooling site.")


def depthwise_cas(channels, kernel_size, *, depth_multiplier=1, name, gate_options=None,
                  **conv_kwargs):
    """CAS at a ``DepthwiseConv2D`` site: a grouped conv (``groups`` = ``channels``, ``channels ·
    depth_multiplier`` filters: output channel c·m + j as the depthwise conv's). A depthwise
    kernel ``(kh, kw, C, m)`` reshaped to ``(kh, kw, 1, C·m)`` is its kernel."""
    return CAS(channels * depth_multiplier, kernel_size, groups=channels, name=name,
               **conv_kwargs, **dict(gate_options or {}))


def _stride(strides):
    """The single block size of a square stride (SPD needs one)."""
    pair = (strides, strides) if isinstance(strides, int) else tuple(strides)
    if pair[0] != pair[1] or pair[0] < 2:
        raise ValueError(
            f"SpaceToDepthConv needs a square stride >= 2; received strides={strides!r}."
        )
    return pair[0]
