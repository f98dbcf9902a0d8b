"""What the adaptive-stride layers cost next to the plain Keras layers they replace.

Every comparison runs side by side in one process: each case is compiled (``tf.function`` graph
mode on TensorFlow, ``jax.jit`` on JAX), warmed up (warm-up excluded), then the cases are run in
turn, ``--repeats`` rounds, so a change of machine load hits all of them alike. A ratio is the
median over rounds of (case time / baseline time) in the same round; times are medians.
"Forward+backward" is the forward pass and the vector-Jacobian product of a fixed random output
gradient, with respect to the weights *and* the input (a layer inside a network must pass its
input gradient on).

    python benchmarks/bench_layers.py --write benchmarks/README.md        # CPU, TensorFlow
    KERAS_BACKEND=jax python benchmarks/bench_layers.py --write benchmarks/README.md   # GPU

Sections: CAS / Conv2D; PAS / MaxPooling2D after Conv2D; every PAS pool mode and the window
poolings / MaxPooling2D; SpaceToDepthConv / Conv2D on 4x the channels at half resolution; gate
variants (how the default was chosen); the gate with XLA / without; dense CAS at inference with
the gate's first conv separate / fused; sparse execution at inference (sparse CAS / dense CAS /
Conv2D against the kept fraction of tiles and the block size, and where the time goes); a
training step of the small VGG with CAS / original, with peak memory (each model in a fresh
subprocess).
"""

import argparse
import datetime
import importlib.util
import inspect
import json
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Benchmark the checkout this script lives in, installed or not.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if os.environ.get("KERAS_BACKEND") == "jax" and importlib.util.find_spec("jax") is None:
    sys.exit("KERAS_BACKEND=jax but JAX is not installed: pip install jax (or jax[cuda12]).")

import numpy as np  # noqa: E402

import keras  # noqa: E402
from keras_adastride import (CAS, PAS, MedianPooling2D, SpaceToDepthConv,  # noqa: E402
                             StochasticPooling2D)
from keras_adastride.layers.pooling.pool_modes import POOL_MODES  # noqa: E402

BACKEND = keras.backend.backend()
if BACKEND not in ("tensorflow", "jax"):
    sys.exit(f"bench_layers: backend {BACKEND!r} is not supported; use tensorflow or jax.")

#: (batch, size, in_channels, filters, stride); the first row is the configuration of issue 6.
GRIDS = {
    "small": [
        (32, 64, 32, 64, 2),
        (32, 64, 32, 64, 1),
        (32, 32, 64, 128, 2),
        (32, 32, 64, 128, 1),
        (32, 128, 16, 32, 2),
        (32, 16, 128, 256, 2),
    ],
    "tiny": [(2, 16, 4, 8, 2)],
}
#: gate variants measured to choose the defaults: name -> CAS gate arguments (fused unless noted)
GATE_VARIANTS = {
    "w8 d3 k3, separate (before issue 6)": dict(gate_hidden_kernel_size=3),
    "w8 d3 k3": dict(gate_hidden_kernel_size=3),
    "w8 d3 k1 (default)": dict(),
    "w8 d2 k1": dict(gate_depth=2),
    "w8 d2 k3": dict(gate_depth=2, gate_hidden_kernel_size=3),
    "w4 d3 k1": dict(gate_width=4),
    "w16 d3 k1": dict(gate_width=16),
    "d1 (one conv)": dict(gate_depth=1),
}
#: sparse execution: ((batch, size, in_channels, filters, stride), block sizes) and kept fractions
SPARSE_GRIDS = {
    "small": dict(configs=[((32, 64, 32, 64, 1), (8, 16, 4)), ((32, 64, 32, 64, 2), (8, 16))],
                  kept=(1.0, 0.75, 0.5, 0.25, 0.1, 0.0)),
    "tiny": dict(configs=[((2, 16, 4, 8, 1), (4,))], kept=(1.0, 0.25, 0.0)),
}
MARK = "<!-- bench:{label}:{end} -->"


class SeparateCAS(CAS):
    """CAS with the gate's first conv run apart from the main conv (before this issue)."""

    fuse_gate_conv = False


class FusedCAS(CAS):
    """CAS with the gate's first conv fused into the main conv at inference too (before issue
    14's follow-up; the default fuses in training only)."""

    fuse_gate_conv = True


# ----------------------------------------------------------------------------- compiled steps


def compile_steps(layer, x, training=True):
    """(forward, forward+backward) zero-argument callables on input ``x``, compiled."""
    if not layer.built:
        layer.build(x.shape)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # one tf.function per case is intended: no retracing notes
        x = tf.constant(x)
        upstream = tf.constant(upstream_gradient(layer, x))

        @tf.function(autograph=False)
        def forward(inputs):
            return layer(inputs, training=training)

        @tf.function(autograph=False)
        def forward_backward(inputs, output_gradients):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                outputs = layer(inputs, training=True)
            sources = [inputs, *layer.trainable_variables]
            # Return the outputs too, else graph pruning skips the forward pass of a linear layer.
            return outputs, tape.gradient(outputs, sources, output_gradients=output_gradients)

        # A CPU tf.function returns when its outputs are computed.
        return (lambda: forward(x)), (lambda: forward_backward(x, upstream))

    import jax
    import jax.numpy as jnp

    x = jnp.asarray(x)
    trainable = [v.value for v in layer.trainable_variables]
    fixed = [v.value for v in layer.non_trainable_variables]

    takes_training = "training" in inspect.signature(layer.call).parameters
    kwargs = {"training": training} if takes_training else {}

    def apply(weights, inputs):
        return layer.stateless_call(weights, fixed, inputs, **kwargs)[0]

    upstream = jnp.asarray(upstream_gradient(layer, x))
    forward = jax.jit(apply)

    def forward_backward(weights, inputs, dy):
        outputs, vjp = jax.vjp(apply, weights, inputs)
        return outputs, vjp(dy)  # the outputs too, so that XLA cannot skip the forward pass

    gradient = jax.jit(forward_backward)
    return (
        lambda: jax.block_until_ready(forward(trainable, x)),
        lambda: jax.block_until_ready(gradient(trainable, x, upstream)),
    )


def upstream_gradient(layer, x):
    """A fixed random gradient of the layer's outputs (what the layers above would send back)."""
    shape = layer.compute_output_shape(tuple(x.shape))
    return np.random.default_rng(1).normal(size=shape).astype("float32")


#: "cpu": CPU time of the process (all threads), which other jobs on a shared machine barely
#: disturb; "wall": elapsed time (the only one that sees GPU work). Set from --clock.
CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
clock = CLOCKS["wall"]


def measure(cases, repeats, warmup):
    """Run ``cases`` (name -> callable) interleaved; returns name -> list of seconds."""
    for run in cases.values():
        for _ in range(warmup):
            run()
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, run in cases.items():
            start = clock()
            run()
            times[name].append(clock() - start)
    return times


def ratio(times, case, baseline):
    """Median over rounds of the paired ratio case / baseline."""
    return statistics.median(a / b for a, b in zip(times[case], times[baseline]))


def ms(times, case):
    return statistics.median(times[case]) * 1e3


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def inputs(batch, size, channels, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, size, size, channels)).astype("float32")


# ----------------------------------------------------------------------------- sections


def pair_rows(configs, make_pair, args):
    """Rows for a baseline/ours comparison: fwd and fwd+bwd times and ratios for each config."""
    rows = []
    for batch, size, channels, filters, stride in configs:
        x = inputs(batch, size, channels)
        baseline, ours = make_pair(size, channels, filters, stride)
        base_f, base_fb = compile_steps(baseline, x)
        ours_f, ours_fb = compile_steps(ours, x)
        t = measure(
            {"bf": base_f, "of": ours_f, "bfb": base_fb, "ofb": ours_fb}, args.repeats, args.warmup
        )
        rows.append(
            [
                f"{batch}x{size}x{size}x{channels}",
                filters,
                stride,
                f"{ms(t, 'bf'):.2f}",
                f"{ms(t, 'of'):.2f}",
                f"**{ratio(t, 'of', 'bf'):.2f}**",
                f"{ms(t, 'bfb'):.2f}",
                f"{ms(t, 'ofb'):.2f}",
                f"**{ratio(t, 'ofb', 'bfb'):.2f}**",
            ]
        )
        print("  ", rows[-1], flush=True)
    return rows


def section_cas(configs, args):
    def pair(size, channels, filters, stride):
        conv = keras.layers.Conv2D(filters, 3, strides=stride, padding="same")
        return conv, CAS(filters, 3, strides=stride, padding="same")

    rows = pair_rows(configs, pair, args)
    header = ["input NHWC", "filters", "stride", "Conv2D fwd ms", "CAS fwd ms", "fwd ratio",
              "Conv2D fwd+bwd ms", "CAS fwd+bwd ms", "fwd+bwd ratio"]
    return "### CAS / Conv2D (3x3, `same`, default gate)\n\n" + table(header, rows)


def section_pas(configs, args):
    def pair(size, channels, filters, stride):
        shape = (size, size, channels)
        conv = dict(filters=filters, kernel_size=3, padding="same")
        plain = keras.Sequential(
            [keras.Input(shape), keras.layers.Conv2D(**conv), keras.layers.MaxPooling2D(stride)]
        )
        ours = keras.Sequential([keras.Input(shape), keras.layers.Conv2D(**conv), PAS(stride)])
        return plain, ours

    rows = pair_rows([c for c in configs if c[4] > 1], pair, args)
    header = ["input NHWC", "filters", "pool", "Conv+MaxPool fwd ms", "Conv+PAS fwd ms",
              "fwd ratio", "Conv+MaxPool fwd+bwd ms", "Conv+PAS fwd+bwd ms", "fwd+bwd ratio"]
    return ("### PAS / MaxPooling2D, each after a Conv2D (3x3 `same`; default gate)\n\n"
            + table(header, rows))


def pool_mode_cases(stride):
    """name -> pooling layer: the plain poolings (Keras, ours), then PAS with every pool mode."""
    cases = {"MaxPooling2D": keras.layers.MaxPooling2D(stride),
             "AveragePooling2D": keras.layers.AveragePooling2D(stride),
             "MedianPooling2D": MedianPooling2D(stride),
             "StochasticPooling2D": StochasticPooling2D(stride)}
    cases.update({f"PAS {mode}": PAS(stride, pool_mode=mode) for mode in POOL_MODES})
    return cases


def section_pool_modes(config, args):
    batch, size, channels, _, stride = config
    x = inputs(batch, size, channels)
    layers, cases = pool_mode_cases(stride), {}
    for name, layer in layers.items():
        # training=True: StochasticPooling2D draws (its inference pass is a weighted average).
        # Forward+backward only: eleven cases, each compiled once.
        cases[name] = compile_steps(layer, x)[1]
    t = measure(cases, args.repeats, args.warmup)
    rows = [[name, f"{ms(t, name):.2f}", f"**{ratio(t, name, 'MaxPooling2D'):.2f}**"]
            for name in layers if name != "MaxPooling2D"]
    print("  ", rows, flush=True)
    return (f"### Pool modes / MaxPooling2D at {batch}x{size}x{size}x{channels}, pool {stride} "
            "(the poolings alone; PAS with its default gate; `training=True` forward+backward; "
            f"MaxPooling2D {ms(t, 'MaxPooling2D'):.2f} ms)\n\n"
            + table(["pooling", "fwd+bwd ms", "fwd+bwd ratio"], rows))


def section_spd(configs, args):
    rows = []
    for batch, size, channels, filters in dict.fromkeys(c[:4] for c in configs):
        half = size // 2
        spd = SpaceToDepthConv(filters, 3, block_size=2, padding="same")
        conv = keras.layers.Conv2D(filters, 3, padding="same")
        spd_f, spd_fb = compile_steps(spd, inputs(batch, size, channels))
        conv_f, conv_fb = compile_steps(conv, inputs(batch, half, 4 * channels))
        t = measure({"cf": conv_f, "sf": spd_f, "cfb": conv_fb, "sfb": spd_fb},
                    args.repeats, args.warmup)
        rows.append([f"{batch}x{size}x{size}x{channels}", filters, f"{ms(t, 'cf'):.2f}",
                     f"{ms(t, 'sf'):.2f}", f"**{ratio(t, 'sf', 'cf'):.2f}**", f"{ms(t, 'cfb'):.2f}",
                     f"{ms(t, 'sfb'):.2f}", f"**{ratio(t, 'sfb', 'cfb'):.2f}**"])
        print("  ", rows[-1], flush=True)
    header = ["input NHWC", "filters", "Conv2D(4C, H/2) fwd ms", "SPD-Conv fwd ms", "fwd ratio",
              "Conv2D fwd+bwd ms", "SPD-Conv fwd+bwd ms", "fwd+bwd ratio"]
    return ("### SpaceToDepthConv / Conv2D on the rearranged shape (4x channels, half "
            "resolution): the cost of the rearrangement\n\n" + table(header, rows))


def section_gate_variants(config, args):
    batch, size, channels, filters, stride = config
    x = inputs(batch, size, channels)
    cases, plain = {}, keras.layers.Conv2D(filters, 3, strides=stride, padding="same")
    cases["Conv2D f"], cases["Conv2D fb"] = compile_steps(plain, x)
    for name, gate in GATE_VARIANTS.items():
        cls = SeparateCAS if "separate" in name else CAS
        layer = cls(filters, 3, strides=stride, padding="same", **gate)
        cases[name + " f"], cases[name + " fb"] = compile_steps(layer, x)
    t = measure(cases, args.repeats, args.warmup)
    rows = [[name, f"{ratio(t, name + ' f', 'Conv2D f'):.2f}",
             f"**{ratio(t, name + ' fb', 'Conv2D fb'):.2f}**"] for name in GATE_VARIANTS]
    print("  ", rows, flush=True)
    return (f"### Gate variants, CAS / Conv2D at {batch}x{size}x{size}x{channels}, {filters} "
            f"filters, 3x3, stride {stride} (w: width, d: depth, k: hidden kernel; first gate "
            "conv fused with the main conv unless 'separate')\n\n"
            + table(["gate", "fwd ratio", "fwd+bwd ratio"], rows))


def section_xla(config, args):
    batch, size, channels, filters, stride = config
    if BACKEND == "jax":
        return ("### Gate with XLA / without\n\nNot applicable on the JAX backend: `jax.jit` "
                "compiles the whole step with XLA, gate included; `gate_jit_compile` is ignored.")
    x = inputs(batch, size, channels)
    cases = {}
    for mode in (False, "auto", True):
        for kind, make in (("CAS", lambda m: CAS(filters, 3, strides=stride, padding="same",
                                                 gate_jit_compile=m)),
                           ("PAS", lambda m: PAS(stride, gate_jit_compile=m))):
            cases[(kind, mode, "f")], cases[(kind, mode, "fb")] = compile_steps(make(mode), x)
    t = measure(cases, args.repeats, args.warmup)
    rows = []
    for kind in ("CAS", "PAS"):
        for mode in ("auto", True):
            rows.append([kind, repr(mode)] + [
                f"**{ratio(t, (kind, mode, step), (kind, False, step)):.2f}**" for step in ("f", "fb")
            ])
    print("  ", rows, flush=True)
    import tensorflow as tf

    device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
    return (f"### Gate with XLA / without (`gate_jit_compile`), {device}, "
            f"{batch}x{size}x{size}x{channels}, stride {stride}; `training=True` calls\n\n"
            + table(["layer", "gate_jit_compile", "fwd ratio to False", "fwd+bwd ratio to False"],
                    rows))


def section_inference(configs, args):
    """Dense CAS at inference: the gate's first conv separate (the default) / fused."""
    rows = []
    for batch, size, channels, filters, stride in configs:
        x = inputs(batch, size, channels)
        cases = {name: compile_steps(layer, x, training=False)[0] for name, layer in (
            ("conv", keras.layers.Conv2D(filters, 3, strides=stride, padding="same")),
            ("fused", FusedCAS(filters, 3, strides=stride, padding="same")),
            ("separate", CAS(filters, 3, strides=stride, padding="same")))}
        t = measure(cases, args.repeats, args.warmup)
        rows.append([f"{batch}x{size}x{size}x{channels}", filters, stride, f"{ms(t, 'conv'):.2f}",
                     f"{ratio(t, 'fused', 'conv'):.2f}", f"{ratio(t, 'separate', 'conv'):.2f}",
                     f"**{ratio(t, 'separate', 'fused'):.2f}**"])
        print("  ", rows[-1], flush=True)
    header = ["input NHWC", "filters", "stride", "Conv2D ms", "fused / Conv2D",
              "separate / Conv2D", "separate / fused"]
    return ("### CAS at inference (`training=False`, dense): the gate's first conv separate "
            "(default) or fused with the main conv\n\n" + table(header, rows))


def steer(layers, x_shape):
    """Build the CAS ``layers`` with one set of weights, their ReLU gates 1 where the gate's
    centre tap reads a channel 0 of +1 and 0 where it reads -1: the input chooses the kept tiles."""
    for layer in layers:
        layer.build(x_shape)
    gate = layers[0].gate
    first = np.zeros(gate.kernels[0].shape, "float32")
    first[1, 1, 0, :] = 1.0
    weights = [first, np.zeros(gate.biases[0].shape, "float32")]
    for kernel, bias in zip(gate.kernels[1:], gate.biases[1:]):
        weights += [np.full(kernel.shape, 1.0 / kernel.shape[2], "float32"),
                    np.zeros(bias.shape, "float32")]
    for layer in layers:
        layer.gate.set_weights(weights)
        layer.conv.set_weights(layers[0].conv.get_weights())


def inputs_keeping(fraction, batch, size, channels, stride, block, seed=0):
    """Images on which a steered CAS keeps ``fraction`` of its tiles (chosen at random)."""
    rng = np.random.default_rng(seed)
    out = -(-size // stride)
    tiles = -(-out // block)
    chosen = np.zeros(batch * tiles * tiles, bool)
    chosen[rng.permutation(chosen.size)[:round(fraction * chosen.size)]] = True
    keep = np.repeat(np.repeat(chosen.reshape(batch, tiles, tiles), block, 1), block, 2)
    taps = np.arange(out) * stride - max((out - 1) * stride + 3 - size, 0) // 2 + 1
    x = inputs(batch, size, channels, seed)
    x[..., 0] = -1.0
    x[:, taps[:, None], taps[None, :], 0] = np.where(keep[:, :out, :out], 1.0, -1.0)
    return x


def section_sparse(args):
    """Sparse / dense CAS at inference against the kept fraction of tiles and the block size,
    with where the sparse time goes: the gate, the main conv on the gathered windows, the rest
    (tile map, gathers, zero-padding mask, product, placing the tiles in the output)."""
    if BACKEND != "tensorflow":
        return ("### Sparse execution\n\nNot applicable on the JAX backend: the number of kept "
                "tiles is a dynamic shape; CAS runs dense there.")
    import tensorflow as tf

    from keras_adastride.layers import sparse_execution

    grid = SPARSE_GRIDS[args.grid]
    rows, crossings = [], []
    for (batch, size, channels, filters, stride), blocks in grid["configs"]:
        for block in blocks:
            layers = {mode: CAS(filters, 3, strides=stride, padding="same",
                                sparse_inference=mode, sparse_block_size=block)
                      for mode in (False, True, "auto")}
            conv = keras.layers.Conv2D(filters, 3, strides=stride, padding="same")
            steer(list(layers.values()), (batch, size, size, channels))
            window = (block - 1) * stride + 3
            previous = None
            for target in grid["kept"]:
                x = inputs_keeping(target, batch, size, channels, stride, block)
                kept = float(sparse_execution.active_tile_fraction(
                    layers[True].gate(x), block, "channels_last"))
                tiles = round(kept * batch * (-(-(-(-size // stride)) // block)) ** 2)  # kept
                cases = {name: compile_steps(layer, x, training=False)[0]
                         for name, layer in (("conv", conv), ("dense", layers[False]),
                                             ("sparse", layers[True]), ("auto", layers["auto"]),
                                             ("gate", layers[True].gate))}
                if tiles:
                    windows = tf.constant(inputs(tiles, window, channels))
                    on_windows = tf.function(lambda w: layers[True]._sparse_main(w, None),
                                             autograph=False)
                    cases["windows"] = lambda: on_windows(windows)
                t = measure(cases, args.repeats, args.warmup)
                t.setdefault("windows", [0.0] * args.repeats)

                def share(parts):  # median over rounds of sum(parts) / dense
                    return statistics.median(sum(t[p][i] for p in parts) / t["dense"][i]
                                             for i in range(len(t["dense"])))

                bound = statistics.median(
                    (kept * c + g) / d for c, g, d in zip(t["conv"], t["gate"], t["dense"]))
                rest = statistics.median((s - g - w) / d for s, g, w, d in zip(
                    t["sparse"], t["gate"], t["windows"], t["dense"]))
                to_dense = ratio(t, "sparse", "dense")
                rows.append([f"{batch}x{size}x{size}x{channels}", filters, stride, block,
                             f"{kept:.2f}", f"{ms(t, 'dense'):.2f}", f"{ms(t, 'sparse'):.2f}",
                             f"**{to_dense:.2f}**", f"{ratio(t, 'auto', 'dense'):.2f}",
                             f"{ratio(t, 'sparse', 'conv'):.2f}", f"{bound:.2f}",
                             f"{share(['gate']):.2f}", f"{share(['windows']):.2f}",
                             f"{rest:.2f}"])
                print("  ", rows[-1], flush=True)
                if previous is not None and (previous[1] - 1) * (to_dense - 1) <= 0 \
                        and previous[1] != to_dense:
                    # linear interpolation of the kept fraction where sparse / dense = 1
                    crossings.append((stride, block, previous[0] + (1 - previous[1]) * (
                        kept - previous[0]) / (to_dense - previous[1])))
                previous = (kept, to_dense)
    header = ["input NHWC", "filters", "stride", "block", "kept tiles", "dense CAS ms",
              "sparse CAS ms", "sparse / dense CAS", "auto / dense CAS", "sparse / Conv2D",
              "bound / dense CAS", "gate / dense", "conv on windows / dense", "rest / dense"]
    breaks = "; ".join(f"stride {s}, block {b}: **{f:.2f}**" for s, b, f in crossings) or "none"
    return ("### Sparse execution at inference (CAS 3x3 `same`, default gate; `training=False`)"
            "\n\n" + table(header, rows) + "\n\nkept tiles: measured share of tiles with a "
            "non-zero gate; dense CAS: the default inference path (the gate's first conv "
            "separate); bound: kept x Conv2D + gate alone (the least sparse execution can "
            "cost); auto: `sparse_inference=\"auto\"` (break-even setting "
            f"{sparse_execution.BREAK_EVEN_FRACTION}). Where the sparse time goes, in shares of "
            "dense CAS: the gate alone; the main conv alone on as many gathered windows "
            "(`(b-1)·S+3` per side) as there are kept tiles; the rest (sparse - gate - conv on "
            "windows: tile map, `tf.where`, gathers, zero-padding mask, product, placing the "
            "tiles in the output). Break-even kept fraction (sparse = dense, "
            f"interpolated): {breaks}.")


def vgg(downsampling, input_shape, classes):
    """(model, source): ``keras_adastride.models.small_vgg`` if present, else an inline stand-in."""
    if importlib.util.find_spec("keras_adastride.models") is not None:
        from keras_adastride.models import small_vgg

        model = small_vgg(input_shape=input_shape, num_classes=classes, downsampling=downsampling,
                          classifier_activation=None)
        return model, "keras_adastride.models.small_vgg"
    # Inline stand-in: VGG blocks (32, 32, pool) (64, 64, pool) (128, pool); with CAS the second
    # conv of the first two blocks (front and middle) becomes a CAS with the same arguments.
    conv = dict(kernel_size=3, padding="same", activation="relu")
    second = CAS if downsampling == "cas" else keras.layers.Conv2D
    layers = keras.layers
    model = keras.Sequential([
        keras.Input(input_shape),
        layers.Conv2D(32, **conv), second(32, **conv), layers.MaxPooling2D(),
        layers.Conv2D(64, **conv), second(64, **conv), layers.MaxPooling2D(),
        layers.Conv2D(128, **conv), layers.MaxPooling2D(),
        layers.GlobalAveragePooling2D(), layers.Dense(classes),
    ])
    return model, "inline stand-in VGG (keras_adastride.models not available)"


def vgg_step(downsampling, batch, size):
    model, source = vgg(downsampling, (size, size, 3), 10)
    model.compile(keras.optimizers.SGD(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = inputs(batch, size, 3)
    y = np.random.default_rng(0).integers(0, 10, size=batch)
    return (lambda: model.train_on_batch(x, y)), source, model.count_params()


def section_vgg(args):
    batch, size = (4, 16) if args.grid == "tiny" else (32, 32)
    original, source, params_o = vgg_step("original", batch, size)
    cas, _, params_c = vgg_step("cas", batch, size)
    t = measure({"original": original, "cas": cas}, args.repeats, args.warmup)
    memory = {name: peak_memory_in_child(name, args) for name in ("original", "cas")}
    unit = memory["original"]["unit"]
    rows = [
        ["original", f"{params_o:,}", f"{ms(t, 'original'):.1f}", "1.00",
         f"{memory['original']['peak']:.1f}", "1.00"],
        ["CAS", f"{params_c:,}", f"{ms(t, 'cas'):.1f}", f"**{ratio(t, 'cas', 'original'):.2f}**",
         f"{memory['cas']['peak']:.1f}", f"**{memory['cas']['peak'] / memory['original']['peak']:.2f}**"],
    ]
    print("  ", rows, flush=True)
    return (f"### Training step of the small VGG ({source}), batch {batch}, {size}x{size}x3, SGD\n\n"
            + table(["model", "params", "step ms", "step ratio", f"peak memory {unit}",
                     "memory ratio"], rows)
            + "\n\nPeak memory: " + memory["original"]["how"])


def peak_memory_in_child(downsampling, args):
    """Peak memory of training steps, each model measured in a fresh process."""
    command = [sys.executable, os.path.abspath(__file__), "--grid", args.grid,
               "--memory-child", downsampling]
    env = dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true")  # CPU allocator statistics
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_child(downsampling, args):
    """Print (JSON) the peak memory of one warmed-up training step of the small VGG."""
    batch, size = (4, 16) if args.grid == "tiny" else (32, 32)
    step, _, _ = vgg_step(downsampling, batch, size)
    step()  # trace and allocate once
    if BACKEND == "tensorflow":
        import tensorflow as tf

        device = "GPU:0" if tf.config.list_physical_devices("GPU") else "CPU:0"
        tf.config.experimental.reset_memory_stats(device)
        step()
        peak = tf.config.experimental.get_memory_info(device)["peak"] / 2**20
        how = ("peak of TensorFlow's allocator during one warmed-up step (on CPU with "
               "TF_CPU_ALLOCATOR_USE_BFC=true): weights, optimizer state, activations, gradients")
    else:
        import jax

        step()
        stats = jax.devices()[0].memory_stats() or {}
        peak = stats.get("peak_bytes_in_use", float("nan")) / 2**20
        how = "the device's `peak_bytes_in_use` (JAX), whole process (nan: not reported)"
    print(json.dumps(dict(peak=peak, unit="MiB", how=how)))


# ----------------------------------------------------------------------------- report


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = re.search(r"model name\s*:\s*(.*)", info.read()).group(1)
    except (OSError, AttributeError):
        pass
    device, accelerator = f"CPU: {cpu}, {os.cpu_count()} cores", "cpu"
    versions = f"Keras {keras.__version__}, backend {BACKEND}"
    if BACKEND == "tensorflow":
        import tensorflow as tf

        versions += f" (TensorFlow {tf.__version__})"
        gpus = tf.config.list_physical_devices("GPU")
        device += f"; TensorFlow GPUs: {len(gpus)}"
        accelerator = "gpu" if gpus else accelerator
    else:
        import jax

        versions += f" (JAX {jax.__version__})"
        device += "; JAX devices: " + ", ".join(d.device_kind for d in jax.devices())
        accelerator = jax.default_backend()
    return device, versions, accelerator


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", choices=sorted(GRIDS), default="small")
    parser.add_argument("--repeats", type=int, default=15, help="timed rounds (median over them)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls of each case first")
    parser.add_argument("--sections", default="cas,pas,pool,spd,gate,xla,infer,sparse,vgg",
                        help="comma-separated subset of cas,pas,pool,spd,gate,xla,infer,sparse,"
                        "vgg")
    parser.add_argument("--clock", choices=("auto", *CLOCKS), default="auto",
                        help="cpu: process CPU time (robust on a shared CPU); wall: elapsed time; "
                        "auto: wall with a GPU, else cpu")
    parser.add_argument("--write", metavar="MARKDOWN",
                        help="also write the report into this file, between bench markers")
    parser.add_argument("--label", help="marker label in --write (default: backend-device)")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        return memory_child(args.memory_child, args)

    global clock
    configs = GRIDS[args.grid]
    device, versions, accelerator = machine()
    clock_name = args.clock if args.clock != "auto" else ("wall" if accelerator == "gpu" else "cpu")
    clock = CLOCKS[clock_name]
    load_before = os.getloadavg()
    sections = {
        "cas": lambda: section_cas(configs, args),
        "pas": lambda: section_pas(configs, args),
        "pool": lambda: section_pool_modes(configs[0], args),
        "spd": lambda: section_spd(configs, args),
        "gate": lambda: section_gate_variants(configs[0], args),
        "xla": lambda: section_xla(configs[0], args),
        "infer": lambda: section_inference(configs, args),
        "sparse": lambda: section_sparse(args),
        "vgg": lambda: section_vgg(args),
    }
    parts = []
    for name in args.sections.split(","):
        print(f"[bench] {name} ...", flush=True)
        parts.append(sections[name]())
    load_after = os.getloadavg()
    command = "python " + " ".join(shlex.quote(a) for a in [
        os.path.relpath(__file__), *(argv if argv is not None else sys.argv[1:])])
    if BACKEND == "jax":
        command = "KERAS_BACKEND=jax " + command
    header = "\n".join([
        f"- command: `{command}`",
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- machine: {device}",
        f"- software: {versions}, Python {platform.python_version()}",
        f"- load average (1, 5, 15 min) before: {load_before[0]:.2f} {load_before[1]:.2f} "
        f"{load_before[2]:.2f}; after: {load_after[0]:.2f} {load_after[1]:.2f} "
        f"{load_after[2]:.2f}",
        f"- {args.repeats} timed rounds after {args.warmup} warm-up calls per case; ratio = "
        "median of per-round ratios (bold); times = medians; clock: "
        + ("process CPU time, all threads (other jobs on the machine barely change it; on an "
           "idle 2-core machine wall time is about half of it)" if clock_name == "cpu"
           else "wall time"),
    ])
    report = header + "\n\n" + "\n\n".join(parts) + "\n"
    print("\n" + report)
    if args.write:
        label = args.label or f"{BACKEND}-{accelerator}"
        write_between_markers(args.write, label, report)
    return report


def write_between_markers(path, label, report):
    """Replace the text between this label's markers in ``path`` (append them if missing)."""
    start, end = MARK.format(label=label, end="start"), MARK.format(label=label, end="end")
    text = open(path).read() if os.path.exists(path) else ""
    block = f"{start}\n{report}{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + block + "\n"
    with open(path, "w") as file:
        file.write(text)


if __name__ == "__main__":
    main()
