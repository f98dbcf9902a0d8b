"""What each paper-table comparison of docs/comparison.md costs: its classification runs timed
on a small subset, extrapolated to the documented budget.

Every table's command (:data:`TABLES`) is run through the main job with 2 epochs on
``--images`` training images and 1 seed; the second epoch's process CPU time (the harness's
``cpu_seconds_per_epoch``: training + validation, every thread) per training image, times the
table's images and epochs, is the estimate of one run (variant x seed); times the variants and
seeds, of the table. CPU time, not wall time: on a shared machine wall time follows the load,
CPU time much less (still somewhat inflated by contention: an upper estimate).

    nice -n 5 python benchmarks/table_budgets.py                  # every table, prints Markdown
    nice -n 5 python benchmarks/table_budgets.py --tables table1_vgg16 seed002
"""

import argparse
import os
import tempfile

#: name -> (main-job arguments as ComparisonConfig fields, planned epochs, planned training
#: images per run, planned seeds). The commands of docs/comparison.md, "The paper's tables".
TABLES = {
    "table1_vgg16": (dict(model="vgg16", width=0.25, variants=("original", "cas")), 15, 59000, 5),
    "table1_alexnet": (dict(model="alexnet", variants=("original", "cas")), 15, 59000, 5),
    "table1_mobilenet": (dict(model="mobilenet", width=0.5, variants=("original", "cas")),
                         15, 59000, 5),
    "table4_vgg16": (dict(model="vgg16", width=0.25, variants=("original", "pas")), 15, 59000, 5),
    "table4_alexnet": (dict(model="alexnet", variants=("original", "pas")), 15, 59000, 5),
    "table4_alexnet_tricks": (dict(model="alexnet", preset="small_tricks",
                                   augment=("flip", "translate"), variants=("original", "pas")),
                              15, 59000, 5),
    "seed002": (dict(model="dilated_vgg", input_size=32,
                     variants=("original", "strided", "large_kernel", "cascade")), 20, 59000, 5),
    "seed002_resnet18": (dict(model="resnet18", width=0.25, variants=("original", "dilated")),
                         20, 59000, 5),
}


def measure(name, images, output):
    """``{variant: CPU seconds per training image and epoch}`` of table ``name``."""
    from keras_adastride.experiments.compare import run_comparison
    from keras_adastride.experiments.config import ComparisonConfig

    fields, _, _, _ = TABLES[name]
    config = ComparisonConfig(**fields, epochs=2, seeds=1, train_subset=images, val_subset=200,
                              test_subset=200, gate_images=2, verbose=0, target_stride=None,
                              output=os.path.join(output, name))
    result = run_comparison(config, log=lambda message: None)
    return {row["variant"]: row["cpu_seconds_per_epoch"] / images for row in result["rows"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", nargs="+", choices=sorted(TABLES), default=list(TABLES))
    parser.add_argument("--images", type=int, default=1000,
                        help="training images of each timed run (default: %(default)s)")
    args = parser.parse_args(argv)
    print("| table | variant | CPU ms / image / epoch | planned epochs x images | CPU h per "
          "run | runs (variants x seeds) | CPU h for the table |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as output:
        for name in args.tables:
            _, epochs, planned, seeds = TABLES[name]
            per_image = measure(name, args.images, output)
            total = sum(per_image.values()) * epochs * planned * seeds / 3600
            for variant, seconds in per_image.items():
                print(f"| {name} | {variant} | {1e3 * seconds:.2f} | {epochs} x {planned:,} | "
                      f"{seconds * epochs * planned / 3600:.2f} | {len(per_image)} x {seeds} | "
                      f"{total:.1f} |", flush=True)


if __name__ == "__main__":
    main()
