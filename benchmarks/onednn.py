"""Training-step time with TensorFlow's oneDNN kernels off vs on, side by side.

TensorFlow turns oneDNN on by default only on x86 CPUs with AVX-512 (VNNI / BF16 / AMX); on
others (e.g. AMD EPYC with AVX2) it runs its own Eigen kernels unless ``TF_ENABLE_ONEDNN_OPTS=1``
is set before it loads. Our commands set it (``keras_adastride/__init__.py``); this measures
what that buys. The variable is read once per process, so each setting trains in a subprocess of
its own, alternating ``--rounds`` times; printed: median seconds per training step (wall and
process CPU) and the ratio off / on, per model.

    nice -n 5 python benchmarks/onednn.py                    # small_vgg, vgg16, alexnet
    nice -n 5 python benchmarks/onednn.py --models small_vgg --rounds 5
"""

import argparse
import json
import os
import subprocess
import sys

#: name -> (builder, input shape, builder arguments): the main job's default and two table nets
MODELS = {
    "small_vgg": ("small_vgg", (28, 28, 1), {}),
    "vgg16": ("vgg16", (32, 32, 1), {"alpha": 0.25}),
    "alexnet": ("alexnet", (28, 28, 1), {"preset": "small"}),
}


def _time_steps(name, steps, batch_size):
    """Median (wall, CPU) seconds of ``steps`` training steps of ``name``, after one warm-up."""
    import time

    import numpy as np

    from keras_adastride import models

    builder, shape, kwargs = MODELS[name]
    model = getattr(models, builder)(input_shape=shape, num_classes=10, **kwargs)
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((batch_size, *shape), dtype="float32")
    y = np.arange(batch_size) % 10
    model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        model.train_on_batch(x, y)
        times.append((time.perf_counter() - wall, time.process_time() - cpu))
    return [float(v) for v in np.median(times, axis=0)]


def _measure(name, onednn, steps, batch_size):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="3",
               KERAS_BACKEND="tensorflow")
    out = subprocess.run([sys.executable, __file__, "--child", name, str(steps), str(batch_size)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    parser.add_argument("--rounds", type=int, default=3, help="off/on subprocess pairs")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_time_steps(args.child[0], int(args.child[1]), int(args.child[2]))))
        return
    import numpy as np

    print("| model | s/step off (wall / CPU) | s/step on (wall / CPU) | off / on (wall / CPU) |")
    print("|---|---|---|---|")
    for name in args.models:
        runs = {"0": [], "1": []}
        for _ in range(args.rounds):
            for onednn in runs:
                runs[onednn].append(_measure(name, onednn, args.steps, args.batch_size))
        off, on = (np.median(runs[k], axis=0) for k in ("0", "1"))
        print(f"| {name} | {off[0]:.3f} / {off[1]:.3f} | {on[0]:.3f} / {on[1]:.3f} "
              f"| {off[0] / on[0]:.2f}x / {off[1] / on[1]:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
