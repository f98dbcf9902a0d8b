"""Constant-sparsity pruning of a Keras 3 model with TFMOT, measured on the saved weights; seed
002's sparse nets as one command.

:func:`prune_constant` carries a trained Keras 3 model to ``tf_keras``
(:func:`keras_adastride.tfmot.to_tf_keras`), wraps it in ``prune_low_magnitude`` with
``ConstantSparsity(target_sparsity, begin_step=0, frequency)``, fine-tunes it, strips the
wrappers, saves it (``.keras``), loads the file back and measures there: the zero fraction of
every pruned kernel, the trainable and the non-zero trainable parameters, and the test accuracy.

Seed 002 prunes its ten-layer 3x3 cascade at "a sparsity rate of 25%" (86,404 -> 21,601
parameters) and its large-kernel net at "a constant sparsity rate of 15%" (172,930 -> 25,940).
Those counts are 25% and 15% of the dense ones: the rate is the share *kept*, so the TFMOT
``target_sparsity`` (the share zeroed) is 0.75 and 0.85 (:data:`SEED002_KEPT`). (The author's
script passes 0.25 to ``ConstantSparsity``, which would zero only a quarter; the published
counts, and the seed's point that the pruned nets end up smaller than the 25,474-parameter
dilated net, need the reading above.) TFMOT prunes kernels only (not biases or BatchNormalization),
so the measured non-zero count is above the seed's product.

    python -m keras_adastride.tfmot.sparsity --variant cascade --epochs 80 --prune-epochs 20

trains ``dilated_vgg(downsampling=variant)`` in the main job's classification recipe (dense
phase: :func:`keras_adastride.experiments.tasks.classification.train_classifier`), then prunes it
and writes ``<output>/<variant>_seed<k>.json`` and the pruned ``.keras`` file.
"""

import argparse
import json
import os
import sys

import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras

from keras_adastride.experiments.batch_norm import SETTLE_IMAGES, settle_batch_norms
from keras_adastride.tfmot.bridge import to_tf_keras
from keras_adastride.tfmot.layers import CUSTOM_OBJECTS
from keras_adastride.tfmot.measure import count_nonzero_params, count_params, kernel_sparsity

#: seed 002's sparse nets: dilated_vgg variant -> share of the weights kept.
SEED002_KEPT = {"cascade": 0.25, "large_kernel": 0.15}


def prune_constant(model, data, target_sparsity, path, *, epochs=1, batch_size=128,
                   learning_rate=1e-3, frequency=20, verbose=0):
    """Prune the Keras 3 ``model`` to ``target_sparsity`` (share of each prunable kernel set to
    zero) while fine-tuning ``epochs`` on ``data``; save the stripped model to ``path``.

    Args:
        model: a built Keras 3 functional / Sequential classifier with softmax outputs.
        data: dict with ``x_train, y_train, x_test, y_test`` (integer labels).
        target_sparsity: in [0, 1): TFMOT's ``ConstantSparsity`` target.
        path: where the stripped ``tf_keras`` model is saved (".keras").
        frequency: steps between mask updates (seed 002: 20), at most one epoch's steps (TFMOT
            counts steps from 1: a run shorter than ``frequency`` would prune nothing).

    Pruning moves the weights at once, faster than the ``BatchNormalization`` moving statistics
    (momentum 0.99) follow; as in the main job, they are recalibrated on the first
    :data:`SETTLE_IMAGES` training images before saving (:func:`settle_batch_norms`).

    Returns:
        ``{"target_sparsity", "kernel_sparsity" ({"layer/weight": zero share}), "params",
        "nonzero_params", "test_accuracy", "path"}``, all measured on the model loaded back from
        ``path``.
    """
    if not (isinstance(target_sparsity, float) and 0.0 <= target_sparsity < 1.0):
        raise ValueError(f"prune_constant: argument `target_sparsity` must be a float in [0, 1); "
                         f"received target_sparsity={target_sparsity!r}.")
    if not str(path).endswith(".keras"):
        raise ValueError(f"prune_constant: argument `path` must end in '.keras'; received "
                         f"path={path!r}.")
    sparsity = tfmot.sparsity.keras
    steps = -(-len(data["y_train"]) // batch_size)
    schedule = sparsity.ConstantSparsity(target_sparsity, begin_step=0,
                                         frequency=min(frequency, steps))
    pruned = sparsity.prune_low_magnitude(to_tf_keras(model), pruning_schedule=schedule)
    pruned.compile(tf_keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                   metrics=["accuracy"])
    pruned.fit(data["x_train"], data["y_train"], batch_size=batch_size, epochs=epochs,
               shuffle=True, callbacks=[sparsity.UpdatePruningStep()], verbose=verbose)
    stripped = sparsity.strip_pruning(pruned)
    settle_batch_norms(stripped, data["x_train"][:SETTLE_IMAGES], batch_size)
    stripped.save(path)
    saved = tf_keras.models.load_model(path, custom_objects=CUSTOM_OBJECTS, compile=False)
    predictions = saved.predict(data["x_test"], batch_size=256, verbose=0)
    return {
        "target_sparsity": target_sparsity,
        "kernel_sparsity": kernel_sparsity(saved),
        "params": count_params(saved),
        "nonzero_params": count_nonzero_params(saved),
        "test_accuracy": float(np.mean(predictions.argmax(-1) == data["y_test"])),
        "path": str(path),
    }


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m keras_adastride.tfmot.sparsity",
        description="Seed 002's sparse nets: train dilated_vgg(downsampling=VARIANT) densely, "
                    "then prune it to a constant sparsity with TFMOT and measure the saved "
                    "weights.")
    add = parser.add_argument
    add("--variant", required=True, choices=sorted(SEED002_KEPT) + ["original", "strided"],
        help="the dilated_vgg net")
    add("--kept", type=float, help="share of each pruned kernel kept (default: seed 002's, "
        + ", ".join(f"{k} {v}" for k, v in SEED002_KEPT.items()) + ")")
    add("--dataset", default="fashion_mnist")
    add("--input-size", type=int, default=32, help="images zero-padded to this side (default 32, "
                                                   "seed 002's CIFAR-10 size)")
    add("--epochs", type=int, default=3, help="dense training epochs (seed 002: 200 before "
                                              "pruning)")
    add("--prune-epochs", type=int, default=1, help="fine-tuning epochs under pruning")
    add("--seed", type=int, default=0)
    add("--batch-size", type=int, default=128)
    add("--learning-rate", type=float, default=1e-3)
    add("--train-subset", type=int, default=5000)
    add("--val-subset", type=int, default=1000)
    add("--test-subset", type=int)
    add("--output", default="seed002_sparsity")
    add("--verbose", type=int, default=2, choices=[0, 1, 2])
    return parser


def main(argv=None):
    from keras_adastride.experiments.config import ComparisonConfig
    from keras_adastride.experiments.report import write_json
    from keras_adastride.experiments.tasks import TASKS
    from keras_adastride.experiments.tasks.classification import train_classifier

    parser = build_parser()
    args = parser.parse_args(argv)
    kept = SEED002_KEPT.get(args.variant) if args.kept is None else args.kept
    if kept is None or not 0.0 < kept <= 1.0:
        parser.error(f"--kept must be in (0, 1] (required for variant {args.variant!r}), got "
                     f"{kept!r}")
    task = TASKS["classification"]
    try:
        config = ComparisonConfig(
            model="dilated_vgg", dataset=args.dataset, variants=(args.variant,),
            epochs=args.epochs, seeds=1, first_seed=args.seed, batch_size=args.batch_size,
            learning_rate=args.learning_rate, train_subset=args.train_subset,
            val_subset=args.val_subset, test_subset=args.test_subset,
            input_size=args.input_size, verbose=args.verbose, target_stride=None,
            output=args.output)
        task.validate(config)
        if args.prune_epochs < 1:
            raise ValueError(f"prune_epochs must be >= 1, got {args.prune_epochs}.")
    except ValueError as error:
        parser.error(str(error))
    os.makedirs(args.output, exist_ok=True)
    data = task.split(task.load(config), args.seed, config)
    dense = train_classifier("dilated_vgg", args.variant, args.seed, data, epochs=args.epochs,
                             batch_size=args.batch_size, learning_rate=args.learning_rate,
                             verbose=args.verbose)
    stem = os.path.join(args.output, f"{args.variant}_seed{args.seed}")
    pruned = prune_constant(dense.model, data, 1.0 - kept, f"{stem}.keras",
                            epochs=args.prune_epochs, batch_size=args.batch_size,
                            learning_rate=args.learning_rate, verbose=args.verbose)
    dense.model = None
    record = {"config": {**vars(args), "kept": kept}, "dense": dense.to_dict(), "pruned": pruned}
    write_json(record, f"{stem}.json")
    print(json.dumps({"variant": args.variant, "dense_test_accuracy": dense.test_accuracy,
                      "dense_params": dense.params, "pruned_test_accuracy":
                      pruned["test_accuracy"], "nonzero_params": pruned["nonzero_params"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
