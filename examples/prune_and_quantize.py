"""Prune and quantize a small VGG-style net with CAS and PAS on Fashion-MNIST (tf_keras + TFMOT).

Trains the dense model, prunes copies to 50% and 80% sparsity (magnitude pruning, polynomial
schedule, then ``strip_pruning``), trains a dense control as long as the pruned ones, trains a
quantization-aware copy and converts it to int8 TFLite, then prints and saves a table: test accuracy (Keras and TFLite), TFLite/Keras top-1
agreement, parameters, non-zero parameters, and the gzip-compressed size of each saved model
(HDF5 weights file and TFLite flatbuffer) with its ratio to the dense one.

    python examples/prune_and_quantize.py                  # full run (~10 min on 2 CPU cores)
    python examples/prune_and_quantize.py --quick          # a smoke run on a data slice

Writes ``table.md``, ``table.csv`` and the models to ``--out-dir``.
"""

import argparse
import csv
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402  (makes tf.keras mean tf_keras)
import tf_keras  # noqa: E402

from keras_adastride import tfmot as kat  # noqa: E402
from keras_adastride.data import load_fashion_mnist  # noqa: E402
from keras_adastride.tfmot.measure import (  # noqa: E402
    count_nonzero_params,
    count_params,
    gzip_size,
    kernel_sparsity,
)
from keras_adastride.tfmot.tflite import tflite_predict, to_tflite  # noqa: E402


def small_vgg_cas_pas(input_shape=(28, 28, 1), num_classes=10):
    """conv 16 - CAS 32 (stride 2) - conv 32 - PAS - conv 64 - maxpool - dense 64 - dense 10."""
    layers = tf_keras.layers
    return tf_keras.Sequential(
        [
            tf_keras.Input(input_shape, name="image"),
            layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1"),
            kat.CAS(32, 3, strides=2, padding="same", activation="relu", name="cas2"),  # 14x14
            layers.Conv2D(32, 3, padding="same", activation="relu", name="conv3"),
            kat.PAS(name="pas3"),  # 7x7
            layers.Conv2D(64, 3, padding="same", activation="relu", name="conv4"),
            layers.MaxPooling2D(name="pool4"),  # 3x3
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="fc5"),
            layers.Dense(num_classes, name="logits"),
        ],
        name="small_vgg_cas_pas",
    )


def compile_model(model, learning_rate=1e-3):
    model.compile(
        tf_keras.optimizers.Adam(learning_rate),
        tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def copy_of(model):
    clone = tf_keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def prune(dense, data, target, epochs, batch_size):
    """Polynomial schedule 0 -> target over the first 2/3 of the steps, then strip_pruning."""
    x, y = data
    steps = epochs * int(np.ceil(len(x) / batch_size))
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=0.0, final_sparsity=target, begin_step=0,
        end_step=max(1, 2 * steps // 3), frequency=max(1, steps // 30),
    )
    model = tfmot.sparsity.keras.prune_low_magnitude(copy_of(dense), pruning_schedule=schedule)
    compile_model(model, 5e-4).fit(
        x, y, batch_size=batch_size, epochs=epochs, verbose=1,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
    )
    return compile_model(tfmot.sparsity.keras.strip_pruning(model))


def quantization_aware(dense, data, epochs, batch_size):
    x, y = data
    with kat.quantize_scope():
        model = tfmot.quantization.keras.quantize_apply(
            kat.quantize_annotate_model(copy_of(dense))
        )
    compile_model(model, 2e-4).fit(x, y, batch_size=batch_size, epochs=epochs, verbose=1)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="dense training epochs")
    parser.add_argument("--prune-epochs", type=int, default=2)
    parser.add_argument("--qat-epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="5,000 training images, 1 epoch each")
    parser.add_argument("--out-dir", default="outputs/prune_and_quantize")
    args = parser.parse_args()
    if args.quick:
        args.epochs = args.prune_epochs = args.qat_epochs = 1
    os.makedirs(args.out_dir, exist_ok=True)
    started = time.time()
    tf_keras.utils.set_random_seed(0)

    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    x_train = (x_train[..., None] / 255.0).astype("float32")
    x_test = (x_test[..., None] / 255.0).astype("float32")
    if args.quick:
        x_train, y_train = x_train[:5000], y_train[:5000]
    train = (x_train, y_train)
    print(f"Fashion-MNIST: {len(x_train)} training, {len(x_test)} test images")

    dense = compile_model(small_vgg_cas_pas())
    dense.summary()
    print("== dense training")
    dense.fit(*train, batch_size=args.batch_size, epochs=args.epochs, verbose=1)
    print(f"== control: the dense model trained {args.prune_epochs} more epochs, as the pruned ones")
    control = copy_of(dense)
    compile_model(control, 5e-4).fit(
        *train, batch_size=args.batch_size, epochs=args.prune_epochs, verbose=1
    )
    models = {"dense": dense, f"dense +{args.prune_epochs} epochs (control)": control}
    for target in (0.5, 0.8):
        print(f"== pruning to {target:.0%}")
        pruned = prune(dense, train, target, args.prune_epochs, args.batch_size)
        models[f"pruned {target:.0%}"] = pruned
        sparsity = kernel_sparsity(pruned)
        print("   kernel sparsity:", {k: round(v, 4) for k, v in sparsity.items()})
    print("== quantization-aware training")
    qat = quantization_aware(dense, train, args.qat_epochs, args.batch_size)

    print("== converting and evaluating")
    entries = [(name, model, to_tflite(model)) for name, model in models.items()]
    entries.append(("QAT int8", qat, to_tflite(qat, quantize=True)))
    rows = []
    for name, model, tflite_model in entries:
        stem = os.path.join(args.out_dir, "".join(c if c.isalnum() else "_" for c in name))
        model.save(stem + ".h5", include_optimizer=False)
        with open(stem + ".tflite", "wb") as f:
            f.write(tflite_model)
        keras_top1 = model.predict(x_test, batch_size=512, verbose=0).argmax(1)
        tflite_top1 = tflite_predict(tflite_model, x_test).argmax(1)
        rows.append(
            {
                "model": name,
                "keras accuracy": np.mean(keras_top1 == y_test),
                "tflite accuracy": np.mean(tflite_top1 == y_test),
                "tflite/keras agreement": np.mean(tflite_top1 == keras_top1),
                "kernel sparsity": _sparsity_range(model) if model is not qat else "n/a",
                "params": count_params(model),
                "non-zero params": count_nonzero_params(model),
                "gzip .h5 bytes": gzip_size(stem + ".h5"),
                "gzip .tflite bytes": gzip_size(stem + ".tflite"),
            }
        )
    for row in rows:
        row["h5 ratio to dense"] = row["gzip .h5 bytes"] / rows[0]["gzip .h5 bytes"]
        row["tflite ratio to dense"] = row["gzip .tflite bytes"] / rows[0]["gzip .tflite bytes"]
    write_table(rows, args.out_dir)
    print(f"total time: {time.time() - started:.0f} s")


def _sparsity_range(model):
    """"min-max" sparsity over the prunable kernels."""
    values = kernel_sparsity(model).values()
    return f"{min(values):.1%}-{max(values):.1%}"


COLUMNS = [
    ("model", "{}"),
    ("keras accuracy", "{:.2%}"),
    ("tflite accuracy", "{:.2%}"),
    ("tflite/keras agreement", "{:.2%}"),
    ("kernel sparsity", "{}"),
    ("params", "{:,}"),
    ("non-zero params", "{:,}"),
    ("gzip .h5 bytes", "{:,}"),
    ("h5 ratio to dense", "{:.2f}"),
    ("gzip .tflite bytes", "{:,}"),
    ("tflite ratio to dense", "{:.2f}"),
]


def write_table(rows, out_dir):
    header = "| " + " | ".join(name for name, _ in COLUMNS) + " |"
    lines = [header, "|" + "---|" * len(COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(fmt.format(row[name]) for name, fmt in COLUMNS) + " |")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(out_dir, "table.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=[name for name, _ in COLUMNS])
        writer.writeheader()
        writer.writerows(rows)
    print(f"saved {out_dir}/table.md and table.csv")


if __name__ == "__main__":
    main()
