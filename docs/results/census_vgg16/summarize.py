"""The VGG16 failure census's table: Glorot (the builders' start) against He-normal
(``--kernel-init he_normal``), original and CAS, paired by seed; failures (a run whose final
validation accuracy is within 5 points of chance, as the main job counts them) with one-sided
Fisher exact p-values, and the accuracy of every run and of the runs that learned.

    python docs/results/census_vgg16/summarize.py docs/results/census_vgg16
"""
import glob
import json
import os
import sys

from keras_adastride.experiments.stats import (fisher_exact_greater, mean_std,
                                               paired_difference_ci)

GROUPS = [(init, variant) for init in ("glorot", "he_normal") for variant in ("original", "cas")]
root = sys.argv[1]
runs = {}
for init in ("glorot", "he_normal"):
    for path in glob.glob(os.path.join(root, init, "runs", "*.json")):  # each run as it ended
        with open(path) as f:
            run = json.load(f)["run"]
        runs[init, run["variant"], run["seed"]] = run
seeds = sorted(seed for seed in {seed for _, _, seed in runs}
               if all((*g, seed) in runs for g in GROUPS))


def accuracies(group, learned=False):
    return [100 * runs[(*group, s)]["metrics"]["test_accuracy"] for s in seeds
            if not (learned and runs[(*group, s)]["failed"])]


def failed(group):
    return [s for s in seeds if runs[(*group, s)]["failed"]]


print("| kernel start | variant | runs | failed runs (seeds) | p: fails more than the original "
      "| test acc. % all runs | test acc. % runs that learned | Δ vs Glorot original % [95% CI] |")
print("|---|---|---|---|---|---|---|---|")
reference = ("glorot", "original")
for group in GROUPS:
    fails = failed(group)
    against = None if group[1] == "original" else (group[0], "original")
    p = (f"{fisher_exact_greater(len(fails), len(seeds), len(failed(against)), len(seeds)):.2f}"
         if against else "-")
    mean, std = mean_std(accuracies(group))
    lmean, lstd = mean_std(accuracies(group, learned=True))
    diff = ("(reference)" if group == reference else
            "{:+.2f} [{:+.2f}, {:+.2f}]".format(*paired_difference_ci(accuracies(group),
                                                                       accuracies(reference))))
    print(f"| {group[0]} | {group[1]} | {len(seeds)} | {len(fails)} "
          f"({', '.join(map(str, fails)) or '-'}) | {p} | {mean:.2f} ± {std:.2f} "
          f"| {lmean:.2f} ± {lstd:.2f} | {diff} |")
glorot = sum(len(failed(g)) for g in GROUPS if g[0] == "glorot")
he = sum(len(failed(g)) for g in GROUPS if g[0] == "he_normal")
print(f"\nBoth variants together: Glorot {glorot}/{2 * len(seeds)} failed, He-normal {he}/"
      f"{2 * len(seeds)}; p (Glorot fails more than He-normal) = "
      f"{fisher_exact_greater(glorot, 2 * len(seeds), he, 2 * len(seeds)):.4f}.\n")
print("Per seed, test accuracy % (Glorot original / CAS, He original / CAS): " + "; ".join(
    f"{s}: " + " / ".join(f"{100 * runs[(*g, s)]['metrics']['test_accuracy']:.1f}" for g in GROUPS)
    for s in seeds) + ".")
