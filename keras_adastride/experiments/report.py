"""Summarise runs per variant and write them as a table, CSV and JSON.

Per variant, for every metric ``m`` of the task (fractions in [0, 1], shown in percent): its mean
± sample std over seeds (``m_mean``, ``m_std``) and the paired (by seed) difference to the
reference variant with its 95% Student-t interval (``m_diff``, ``m_ci95_low``, ``m_ci95_high``).
Then parameters; FLOPs (as counted by :func:`keras_adastride.flops.count_flops`); wall and
process-CPU seconds per epoch and the CPU-time ratio to the reference; and each CAS / PAS
layer's effective stride, averaged over seeds. When the runs measured inference
(:func:`keras_adastride.experiments.train.inference_figures`), the means over seeds of the CPU time
per test image with dense, sparse and ``"auto"`` execution, the effective FLOPs, the share of test images
whose prediction is the same with both, and each CAS / PAS layer's kept tile fraction.

Failed runs are counted, not averaged away: ``failed_runs`` is how many runs of the variant the
task marked ``failed`` (classification: final validation accuracy below chance + a margin),
``failed_seeds`` which; ``m_learned_mean`` / ``m_learned_std`` are the metric over the other runs;
``failed_runs_p`` is the one-sided Fisher exact p-value of "this variant fails more often than the
reference" (:func:`~keras_adastride.experiments.stats.fisher_exact_greater`; None for the
reference). ``failed_runs`` is None when the task marks no run either way.
"""

import csv
import json
import math
import os

import numpy as np

from keras_adastride.experiments.stats import (fisher_exact_greater, mean_std,
                                               paired_difference_ci)

INFERENCE_COLUMNS = ("dense_ms_per_image", "sparse_ms_per_image", "auto_ms_per_image",
                     "effective_flops", "sparse_same_predictions", "kept_tiles")
SHARED_COLUMNS = ("failed_runs", "failed_seeds", "failed_runs_p", "params", "flops", "seconds_per_epoch",
                  "cpu_seconds_per_epoch", "cpu_time_relative", "effective_strides",
                  *INFERENCE_COLUMNS)


def _inference_means(runs):
    """Means over ``runs`` of their inference figures (NaN where none measured them: runs
    recorded before ``auto_ms_per_image`` existed lack it)."""
    figures = [run.inference for run in runs if run.inference is not None]
    mean = lambda key: float(np.mean([  # noqa: E731
        math.nan if f.get(key) is None else f[key] for f in figures])) if figures else math.nan
    kept = {name: float(np.mean([f["kept_tiles"][name] for f in figures]))
            for name in (figures[0]["kept_tiles"] if figures else {})}
    return {**{key: mean(key) for key in INFERENCE_COLUMNS[:-1]}, "kept_tiles": kept}


def columns(metrics):
    """The summary keys (and CSV columns) for the metric names ``metrics``."""
    per_metric = [f"{m}_{part}" for m in metrics
                  for part in ("mean", "std", "diff", "ci95_low", "ci95_high", "learned_mean",
                               "learned_std")]
    return ("variant", "seeds", *per_metric, *SHARED_COLUMNS)


def summarize(runs, metrics=("test_accuracy",), reference="original"):
    """One summary dict per variant (in first-seen order) with the keys ``columns(metrics)``.

    ``reference`` is the variant the differences and time ratios are taken against; when no
    run has it, the first variant is used. Pairs are formed by seed.
    """
    by_variant = {}
    for run in runs:
        by_variant.setdefault(run.variant, {})[run.seed] = run
    if reference not in by_variant:
        reference = next(iter(by_variant))
    reference_runs = by_variant[reference]
    reference_cpu = np.mean([r.cpu_seconds_per_epoch for r in reference_runs.values()])
    rows = []
    for variant, seeded in by_variant.items():
        seeds = sorted(seeded)
        paired = [s for s in seeds if s in reference_runs]
        row = {"variant": variant, "seeds": len(seeds)}
        marked = [s for s in seeds if seeded[s].failed is not None]
        failed = [s for s in marked if seeded[s].failed]
        learned = [s for s in seeds if s not in failed]
        row["failed_runs"] = len(failed) if marked else None
        row["failed_seeds"] = failed
        reference_marked = [r for r in reference_runs.values() if r.failed is not None]
        row["failed_runs_p"] = fisher_exact_greater(
            len(failed), len(marked), sum(r.failed for r in reference_marked),
            len(reference_marked)) if marked and reference_marked and variant != reference \
            else None
        for metric in metrics:
            row[f"{metric}_mean"], row[f"{metric}_std"] = mean_std(
                [seeded[s].metrics[metric] for s in seeds])
            row[f"{metric}_learned_mean"], row[f"{metric}_learned_std"] = mean_std(
                [seeded[s].metrics[metric] for s in learned]) if learned else (math.nan, math.nan)
            row[f"{metric}_diff"], row[f"{metric}_ci95_low"], row[f"{metric}_ci95_high"] = (
                paired_difference_ci([seeded[s].metrics[metric] for s in paired],
                                     [reference_runs[s].metrics[metric] for s in paired])
                if paired else (math.nan, math.nan, math.nan))
        cpu = float(np.mean([seeded[s].cpu_seconds_per_epoch for s in seeds]))
        layer_names = list(seeded[seeds[0]].effective_strides)
        row.update({
            "params": seeded[seeds[0]].params,
            "flops": seeded[seeds[0]].flops,
            "seconds_per_epoch": float(np.mean([seeded[s].seconds_per_epoch for s in seeds])),
            "cpu_seconds_per_epoch": cpu,
            "cpu_time_relative": cpu / reference_cpu,
            "effective_strides": {
                name: float(np.mean([seeded[s].effective_strides[name] for s in seeds]))
                for name in layer_names
            },
            **_inference_means([seeded[s] for s in seeds]),
        })
        rows.append(row)
    return rows, reference


def _percent(value):
    return "n/a" if math.isnan(value) else f"{100 * value:.2f}"


def _signed_percent(value):
    return "n/a" if math.isnan(value) else f"{100 * value:+.2f}"


def _difference(row, metric, reference):
    if row["variant"] == reference:
        return "(reference)"
    diff = _signed_percent(row[f"{metric}_diff"])
    if math.isnan(row[f"{metric}_ci95_low"]):
        return diff
    return (f"{diff} [{_signed_percent(row[f'{metric}_ci95_low'])}, "
            f"{_signed_percent(row[f'{metric}_ci95_high'])}]")


def _label(metric):
    return metric.replace("_", " ")


def _census(row):
    if row["failed_runs"] is None:
        return "-"
    seeds = ", ".join(str(s) for s in row["failed_seeds"])
    p_value = "" if row["failed_runs_p"] is None else f", p {row['failed_runs_p']:.2f}"
    return f"{row['failed_runs']}/{row['seeds']}" + (f" ({seeds})" if seeds else "") + p_value


def _learned(row, metric):
    if not row["failed_runs"]:
        return "(all)"
    return f"{_percent(row[f'{metric}_learned_mean'])} ± {_percent(row[f'{metric}_learned_std'])}"


def format_table(rows, reference, metrics=("test_accuracy",)):
    """A Markdown table (readable in a terminal too); metrics and differences in percent."""
    header = ["variant"]
    for metric in metrics:
        label = _label(metric)
        header += [f"{label} % (mean ± std)", f"Δ {label} vs {reference} % [95% CI]"]
    census = any(row["failed_runs"] is not None for row in rows)
    if census:
        header += [f"runs at chance (seeds), p more than {reference}",
                   f"{_label(metrics[0])} % of the runs that learned"]
    header += ["params", "FLOPs", "wall s/epoch", "CPU s/epoch", f"CPU time vs {reference}",
               "effective stride per adaptive layer"]
    inference = any(not math.isnan(row["dense_ms_per_image"]) for row in rows)
    if inference:
        header += ["inference CPU ms/image dense / sparse / auto", "effective FLOPs (sparse)",
                   "kept tiles per adaptive layer", "same predictions sparse/dense %"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["variant"]]
        for metric in metrics:
            cells += [f"{_percent(row[f'{metric}_mean'])} ± {_percent(row[f'{metric}_std'])}",
                      _difference(row, metric, reference)]
        strides = ", ".join(f"{name}: {value:.2f}" for name, value in
                            row["effective_strides"].items()) or "-"
        if census:
            cells += [_census(row), _learned(row, metrics[0])]
        cells += [f"{row['params']:,}", f"{row['flops']:,}", f"{row['seconds_per_epoch']:.2f}",
                  f"{row['cpu_seconds_per_epoch']:.2f}", f"{row['cpu_time_relative']:.2f}x",
                  strides]
        if inference:
            times = " / ".join("-" if math.isnan(row[f"{mode}_ms_per_image"]) else
                               f"{row[f'{mode}_ms_per_image']:.3f}"
                               for mode in ("dense", "sparse", "auto"))
            kept = ", ".join(f"{name}: {value:.2f}" for name, value in
                             row["kept_tiles"].items()) or "-"
            cells += [times,
                      f"{row['effective_flops']:,.0f}", kept,
                      "-" if math.isnan(row["sparse_same_predictions"]) else
                      _percent(row["sparse_same_predictions"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_csv(rows, path, metrics=("test_accuracy",)):
    """One line per variant; effective strides as ``name=value`` pairs joined by ``;``."""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns(metrics))
        writer.writeheader()
        for row in rows:
            strides = ";".join(f"{k}={v:.4f}" for k, v in row["effective_strides"].items())
            kept = ";".join(f"{k}={v:.4f}" for k, v in row["kept_tiles"].items())
            writer.writerow({**row, "effective_strides": strides, "kept_tiles": kept,
                             "failed_seeds": ";".join(str(s) for s in row["failed_seeds"])})


def _json_safe(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_json(payload, path):
    """Write ``payload`` as indented JSON, NaN as ``null``, atomically: into a temporary file
    beside ``path``, then ``os.replace`` (a crash leaves the old file or the new, never half)."""
    temporary = f"{path}.tmp{os.getpid()}"
    with open(temporary, "w") as f:
        json.dump(_json_safe(payload), f, indent=2)
    os.replace(temporary, path)
