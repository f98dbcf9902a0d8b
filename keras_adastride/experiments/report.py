"""Summarise runs per variant and write them as a table, CSV and JSON.

Per variant: test accuracy mean ± sample std over seeds; the paired (by seed) difference to the
reference variant with its 95% Student-t interval; parameters; FLOPs (as counted by
:func:`keras_adastride.flops.count_flops`); mean seconds per epoch and its ratio to the
reference; and each CAS / PAS layer's effective stride, averaged over seeds.
"""

import csv
import json
import math

import numpy as np

from keras_adastride.experiments.stats import mean_std, paired_difference_ci

COLUMNS = (
    "variant", "seeds", "test_accuracy_mean", "test_accuracy_std", "diff_to_reference",
    "diff_ci95_low", "diff_ci95_high", "params", "flops", "seconds_per_epoch",
    "time_per_epoch_relative", "effective_strides",
)


def summarize(runs, reference="original"):
    """One summary dict per variant (in first-seen order) with the keys in ``COLUMNS``.

    ``reference`` is the variant the differences and time ratios are taken against; when no
    run has it, the first variant is used. Pairs are formed by seed.
    """
    by_variant = {}
    for run in runs:
        by_variant.setdefault(run.variant, {})[run.seed] = run
    if reference not in by_variant:
        reference = next(iter(by_variant))
    reference_runs = by_variant[reference]
    reference_time = np.mean([r.seconds_per_epoch for r in reference_runs.values()])
    rows = []
    for variant, seeded in by_variant.items():
        seeds = sorted(seeded)
        accuracies = [seeded[s].test_accuracy for s in seeds]
        mean, std = mean_std(accuracies)
        paired = [s for s in seeds if s in reference_runs]
        diff, low, high = paired_difference_ci(
            [seeded[s].test_accuracy for s in paired],
            [reference_runs[s].test_accuracy for s in paired],
        ) if paired else (math.nan, math.nan, math.nan)
        seconds = float(np.mean([seeded[s].seconds_per_epoch for s in seeds]))
        layer_names = list(seeded[seeds[0]].effective_strides)
        rows.append({
            "variant": variant,
            "seeds": len(seeds),
            "test_accuracy_mean": mean,
            "test_accuracy_std": std,
            "diff_to_reference": diff,
            "diff_ci95_low": low,
            "diff_ci95_high": high,
            "params": seeded[seeds[0]].params,
            "flops": seeded[seeds[0]].flops,
            "seconds_per_epoch": seconds,
            "time_per_epoch_relative": seconds / reference_time,
            "effective_strides": {
                name: float(np.mean([seeded[s].effective_strides[name] for s in seeds]))
                for name in layer_names
            },
        })
    return rows, reference


def _percent(value):
    return "n/a" if math.isnan(value) else f"{100 * value:.2f}"


def _signed_percent(value):
    return "n/a" if math.isnan(value) else f"{100 * value:+.2f}"


def format_table(rows, reference):
    """A Markdown table (readable in a terminal too); accuracies and differences in percent."""
    header = (
        "| variant | test acc. % (mean ± std) | Δ acc. vs " + reference + " % [95% CI] | params | "
        "FLOPs | s/epoch | time/epoch vs " + reference + " | effective stride per adaptive layer |"
    )
    lines = [header, "|" + "---|" * 8]
    for row in rows:
        if row["variant"] == reference:
            diff = "(reference)"
        elif math.isnan(row["diff_ci95_low"]):
            diff = _signed_percent(row["diff_to_reference"])
        else:
            diff = (f"{_signed_percent(row['diff_to_reference'])} "
                    f"[{_signed_percent(row['diff_ci95_low'])}, "
                    f"{_signed_percent(row['diff_ci95_high'])}]")
        strides = ", ".join(f"{name}: {value:.2f}" for name, value in
                            row["effective_strides"].items()) or "-"
        lines.append(
            f"| {row['variant']} | {_percent(row['test_accuracy_mean'])} ± "
            f"{_percent(row['test_accuracy_std'])} | {diff} | {row['params']:,} | "
            f"{row['flops']:,} | {row['seconds_per_epoch']:.2f} | "
            f"{row['time_per_epoch_relative']:.2f}x | {strides} |"
        )
    return "\n".join(lines)


def write_csv(rows, path):
    """One line per variant; effective strides as ``name=value`` pairs joined by ``;``."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            strides = ";".join(f"{k}={v:.4f}" for k, v in row["effective_strides"].items())
            writer.writerow({**row, "effective_strides": strides})


def _json_safe(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(payload, path):
    """Write ``payload`` as indented JSON, NaN as ``null``."""
    with open(path, "w") as f:
        json.dump(_json_safe(payload), f, indent=2)
