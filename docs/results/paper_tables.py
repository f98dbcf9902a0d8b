"""Every run of the papers' Tables 1 (CAS) and 4 (PAS) in one table, read from the runs' own
``results.json``: each row is one folder of docs/results (original against one adaptive variant,
paired seeds), labelled from the run's recorded config, so no figure is copied by hand.

Columns: test accuracy mean ± std over the seeds, the paired difference with its 95% t interval
(as the main job computes it), seeds where the variant is ahead / level / behind, runs left at
chance, the effective stride per adaptive site (1.00 for CAS and the pool's 2.00 for PAS mean
every position kept), CPU time per epoch against the original, and the per-seed median of
sparse / dense and auto / dense inference time (``-`` where the run predates the measure).

    python docs/results/paper_tables.py   # the table in docs/RESULTS.md
"""
import json
import os
import statistics

from keras_adastride.experiments.tasks.classification import DATASETS

ROOT = os.path.dirname(os.path.abspath(__file__))

# (paper table, results folder, adaptive variant), in the order the doc reads them.
ROWS = [
    ("1", "table1_vgg16", "cas"),
    ("1", "table1_vgg16_he", "cas"),
    ("1", "table1_vgg16_he_random", "cas"),
    ("1", "table1_vgg16_he_full", "cas"),
    ("1", "table1_vgg16_he_10k_15ep", "cas"),
    ("1", "table1_alexnet_10k", "cas"),
    ("1", "table1_alexnet_random_10k", "cas"),
    ("1", "table14_alexnet_full", "cas"),
    ("1", "table1_alexnet_10k_15ep", "cas"),
    ("1", "table1_alexnet_random_10k_15ep", "cas"),
    ("1", "table14_alexnet_10k_15ep_budget2", "cas"),
    ("1", "table1_mobilenet", "cas"),
    ("1", "table1_mobilenet_10ep", "cas"),
    ("4", "table4_vgg16", "pas"),
    ("4", "table4_vgg16_he_10k_15ep", "pas"),
    ("4", "table14_alexnet_full", "pas"),
    ("4", "table4_alexnet_10k_15ep", "pas"),
    ("4", "table14_alexnet_10k_15ep_budget2", "pas"),
    ("4", "table4_alexnet_tricks_30k", "pas"),
    ("4", "table4_alexnet_tricks_full", "pas"),
    ("4", "table4_alexnet_tricks_10k_15ep", "pas"),
]


def model_label(config):
    """``vgg16 w0.25 he_normal`` / ``alexnet small_tricks +flip,translate`` from the config."""
    parts = [config["model"]]
    if config.get("width"):
        parts.append(f"w{config['width']:g}")
    if config.get("preset"):
        parts.append(config["preset"])
    if config.get("kernel_init"):
        parts.append(config["kernel_init"])
    if config.get("augment"):
        parts.append("+" + ",".join(config["augment"]))
    return " ".join(parts)


def gate_label(config):
    """The gate's start and budget: ``identity, free`` is the project default without a budget."""
    start = config.get("gate_init") or "identity"
    budget = config.get("target_stride")
    return f"{start}, " + (f"target stride {budget:g}" if budget else "free")


def median_ratio(runs, numerator):
    ratios = [run["inference"][numerator] / run["inference"]["dense_ms_per_image"]
              for run in runs if run["inference"].get(numerator)]
    return f"{statistics.median(ratios):.2f}x" if ratios else "-"


def row(table, folder, variant):
    with open(os.path.join(ROOT, folder, "results.json")) as f:
        results = json.load(f)
    config = results["config"]
    summary = {entry["variant"]: entry for entry in results["summary"]}
    original, adaptive = summary["original"], summary[variant]
    accuracy = {(run["variant"], run["seed"]): run["metrics"]["test_accuracy"]
                for run in results["runs"]}
    seeds = sorted(seed for name, seed in accuracy if name == variant
                   and ("original", seed) in accuracy)
    runs = [run for run in results["runs"] if run["variant"] == variant]
    ahead = sum(accuracy[variant, s] > accuracy["original", s] for s in seeds)
    behind = sum(accuracy[variant, s] < accuracy["original", s] for s in seeds)
    strides = ", ".join(f"{site} {value:.2f}"
                        for site, value in adaptive["effective_strides"].items())
    images = config["train_subset"] or (DATASETS[config["dataset"]].train_images
                                        - config["val_subset"])  # all but the held-out images
    return (f"| {table} | {variant.upper()} | {model_label(config)} | {gate_label(config)} "
            f"| {images:,} | {config['epochs']} "
            f"| {100 * original['test_accuracy_mean']:.2f} ± {100 * original['test_accuracy_std']:.2f} "
            f"| {100 * adaptive['test_accuracy_mean']:.2f} ± {100 * adaptive['test_accuracy_std']:.2f} "
            f"| {100 * adaptive['test_accuracy_diff']:+.2f} [{100 * adaptive['test_accuracy_ci95_low']:+.2f}, "
            f"{100 * adaptive['test_accuracy_ci95_high']:+.2f}] "
            f"| {ahead} / {len(seeds) - ahead - behind} / {behind} "
            f"| {original['failed_runs']} / {adaptive['failed_runs']} | {strides} "
            f"| {adaptive['cpu_time_relative']:.2f}x "
            f"| {median_ratio(runs, 'sparse_ms_per_image')} "
            f"| {median_ratio(runs, 'auto_ms_per_image')} "
            f"| [{folder}](results/{folder}/table.md) |")


def main():
    print("| paper table | layer | model | gate | training images | epochs | original test acc. % "
          "| adaptive test acc. % | Δ % [95% CI] | seeds ahead / level / behind | runs at chance (original / "
          "adaptive) | effective stride | CPU time vs original | sparse / dense inference "
          "| auto / dense inference | results |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for table, folder, variant in ROWS:
        print(row(table, folder, variant))


if __name__ == "__main__":
    main()
