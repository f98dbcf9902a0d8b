"""Convert a keras.applications model to CAS / PAS / SPD-Conv and fine-tune it on Fashion-MNIST.

No pretrained weights can be downloaded here, so the "model you already have" is made first: a
keras.applications network (``weights=None``) trained for ``--pretrain-epochs`` on real
Fashion-MNIST (Debian's ``dataset-fashion-mnist`` through ``keras_adastride.data``; 28x28 grey
images padded to the model's 32x32 minimum and repeated on 3 channels). Then:

1. ``keras_adastride.convert(model, to=...)`` with the paper's placements (its dry run printed);
2. the converted model is checked to start as the original (test accuracy and max |difference|);
3. it is fine-tuned for ``--finetune-epochs``, and so is a copy of the original for the same
   epochs (the fair control: same data, same optimizer, same steps);
4. a table: test accuracy before / after, parameters, FLOPs per image (keras_adastride.flops, a
   multiply-add = 2 FLOPs), and the training-step time relative to the original.

    python examples/convert_and_finetune.py                       # MobileNetV2 (alpha 0.35), CAS
    python examples/convert_and_finetune.py --model ResNet50 --to spd
    python examples/convert_and_finetune.py --quick               # a smoke run on a data slice

Step times on a shared CPU are noisy: the ratio (same batch, same machine, interleaved) is the
figure to read, not the seconds.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import keras  # noqa: E402

from keras_adastride import convert  # noqa: E402
from keras_adastride.data import load_fashion_mnist, prepare_images  # noqa: E402
from keras_adastride.flops import count_flops  # noqa: E402

#: --model -> (keras.applications constructor, width arguments)
MODELS = {
    "MobileNetV2": (keras.applications.MobileNetV2, dict(alpha=0.35)),
    "MobileNet": (keras.applications.MobileNet, dict(alpha=0.25)),
    "ResNet50": (keras.applications.ResNet50, {}),
    "EfficientNetB0": (keras.applications.EfficientNetB0, {}),
    "VGG16": (keras.applications.VGG16, {}),
}
SIZE = 32  # the smallest input keras.applications accepts


def fashion_mnist(train_size, test_size, seed):
    """Fashion-MNIST as (N, 32, 32, 3) float32 in [0, 1] (zero-padded, grey repeated)."""
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    rng = np.random.default_rng(seed)
    train = rng.permutation(len(y_train))[:train_size]
    test = rng.permutation(len(y_test))[:test_size]

    def to_model_input(images):
        images = prepare_images(images)  # (N, 28, 28, 1) in [0, 1]
        pad = (SIZE - images.shape[1]) // 2
        images = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        return np.repeat(images, 3, axis=-1)

    return ((to_model_input(x_train[train]), y_train[train]),
            (to_model_input(x_test[test]), y_test[test]))


def short_training_momentum(model, momentum=0.9):
    """BatchNormalization momentum for a few hundred steps: keras.applications sets 0.99 (0.999
    in MobileNetV2) for ImageNet-length training, and after a few hundred steps such moving
    statistics are still near their initial values (test accuracy near chance)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
    return model


def compiled(model, learning_rate):
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=256, verbose=0), -1) == y))


def step_time_ratio(model, reference, x, y, batch_size, steps):
    """Median training-step time of ``model`` / ``reference``, the steps interleaved so both see
    the same machine load (both compiled, warmed up first)."""
    times = {id(model): [], id(reference): []}
    batch = x[:batch_size], y[:batch_size]
    for m in (model, reference):
        m.train_on_batch(*batch)
    for _ in range(steps):
        for m in (model, reference):
            start = time.perf_counter()
            m.train_on_batch(*batch)
            times[id(m)].append(time.perf_counter() - start)
    return float(np.median(times[id(model)]) / np.median(times[id(reference)]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="MobileNetV2")
    parser.add_argument("--to", choices=["cas", "pas", "spd"], default="cas")
    parser.add_argument("--train-size", type=int, default=12000)
    parser.add_argument("--test-size", type=int, default=5000)
    parser.add_argument("--pretrain-epochs", type=int, default=3)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a smoke run on a data slice")
    args = parser.parse_args(argv)
    if args.quick:
        args.train_size, args.test_size = 512, 256
        args.pretrain_epochs = args.finetune_epochs = 1

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_test, y_test) = fashion_mnist(args.train_size, args.test_size,
                                                         args.seed)
    constructor, width = MODELS[args.model]
    original = compiled(short_training_momentum(
        constructor(weights=None, input_shape=(SIZE, SIZE, 3), classes=10, **width)),
        args.learning_rate)
    print(f"1. the model you already have: {args.model}, trained {args.pretrain_epochs} epochs "
          f"on {len(y_train)} Fashion-MNIST images")
    original.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.pretrain_epochs,
                 verbose=2)
    before = accuracy(original, x_test, y_test)

    print(f"\n2. convert(model, to={args.to!r}): dry run")
    for site in convert(original, args.to, dry_run=True):
        if site.replaced:
            print("  ", site)
    converted = compiled(convert(original, args.to), args.learning_rate)
    control = compiled(keras.models.clone_model(original), args.learning_rate)
    control.set_weights(original.get_weights())
    start = accuracy(converted, x_test, y_test)
    difference = float(np.max(np.abs(converted.predict(x_test[:256], verbose=0)
                                      - original.predict(x_test[:256], verbose=0))))
    print(f"   converted at start: accuracy {start:.4f} (original {before:.4f}), "
          f"max |output difference| {difference:.2e}")

    print(f"\n3. fine-tune both for {args.finetune_epochs} epochs")
    for name, model in (("converted", converted), ("original (control)", control)):
        print(f"   {name}")
        keras.utils.set_random_seed(args.seed + 1)  # same batches for both
        model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.finetune_epochs,
                  verbose=2)
    ratio = step_time_ratio(converted, control, x_train, y_train, args.batch_size,
                            steps=5 if args.quick else 20)

    rows = [
        ("original, before fine-tuning", before, original),
        ("original, fine-tuned (control)", accuracy(control, x_test, y_test), control),
        (f"converted ({args.to}), at start", start, converted),
        (f"converted ({args.to}), fine-tuned", accuracy(converted, x_test, y_test), converted),
    ]
    flops = {id(m): count_flops(m) for m in (original, converted)}
    flops[id(control)] = flops[id(original)]
    print(f"\n4. {args.model} on Fashion-MNIST ({len(y_test)} test images)\n")
    print("| model | test accuracy | params | MFLOPs / image |")
    print("| --- | --- | --- | --- |")
    for name, acc, model in rows:
        print(f"| {name} | {acc:.4f} | {model.count_params():,} | {flops[id(model)] / 1e6:.2f} |")
    print(f"\nparams ratio {converted.count_params() / original.count_params():.3f}, FLOPs ratio "
          f"{flops[id(converted)] / flops[id(original)]:.3f}, training-step time ratio "
          f"{ratio:.2f} (converted / original, batch {args.batch_size}, median, noisy on a "
          "shared CPU)")


if __name__ == "__main__":
    main()
