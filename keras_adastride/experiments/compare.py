"""The main job: train every downsampling variant of a model with several seeds and compare.

Task-agnostic: what is trained and scored comes from the task (``config.task``, see
:mod:`keras_adastride.experiments.tasks`). For seed ``s`` the training data and the shuffling
are drawn from ``s``, identically for every variant, so variants pair up by seed. Outputs in
``config.output``: ``runs/<variant>_seed<s>.json`` (each run, written as soon as it ends),
``results.csv`` (one line per variant), ``results.json`` (configuration, summary, every run with
its history), ``table.md``, ``learning_curves.png`` and the task's example picture
(classification: ``gate_maps.png``, from the first seed's CAS / PAS models).
"""

import copy
import dataclasses
import os

from keras_adastride.experiments import plots, report, resume
from keras_adastride.experiments.config import ComparisonConfig
from keras_adastride.experiments.distribute import worker_output
from keras_adastride.experiments.resume import run_path
from keras_adastride.experiments.tasks import get_task

__all__ = ["ComparisonConfig", "run_comparison", "run_path"]


def run_comparison(config, log=print, check=True):
    """Run ``config`` end to end; returns ``{"rows", "reference", "table", "runs", "paths"}``.

    A ``multi-worker`` task other than the chief writes to ``<config.output>/worker<index>``
    (:func:`~keras_adastride.experiments.distribute.worker_output`).

    Started again on the same ``config.output`` it resumes (:mod:`.resume`): finished runs are
    read back, the interrupted one continues from its last epoch; an output folder of another
    configuration is refused with a ``ValueError``.

    ``check``: validate the configuration against the task first (``task.validate``); the
    command line has done that already and passes False.
    """
    output = worker_output(config.output, config.distribute)
    if output != config.output:  # (a copy, not dataclasses.replace: no second __post_init__,
        config = copy.copy(config)  # which refuses the variants that ``convert`` filled in)
        config.output = output
    task = get_task(config.task)
    if check:
        task.validate(config)
    plots.pyplot()  # a missing matplotlib fails here, not after the training
    resume.claim_output(config)
    config_record = dataclasses.asdict(config)
    loaded = task.load(config)
    seeds = [config.first_seed + i for i in range(config.seeds)]
    runs, first_seed_models, data = [], {}, None
    gate_options = config.gate_options()
    total = len(seeds) * len(config.variants)
    for seed in seeds:
        data = task.split(loaded, seed, config)
        for variant in config.variants:
            head = f"[run {len(runs) + 1}/{total}] {config.model} / {variant} / seed {seed}"
            path = run_path(config.output, variant, seed)
            model_path = run_path(config.output, variant, seed, ".keras")
            if os.path.exists(path):
                log(f"{head}: finished before, read from {path}")
                run = resume.load_run(path)
                if seed == seeds[0]:
                    run.model = resume.load_model(model_path)
            else:
                backup = run_path(config.output, variant, seed, ".backup")
                log(f"{head}, {config.epochs} epochs"
                    + (" (resumed from its backup)" if os.path.isdir(backup) else ""))
                run = task.train_run(config.model, variant, seed, data, config, gate_options,
                                     backup_dir=backup)
                if seed == seeds[0]:
                    resume.save_model(run.model, model_path)
                report.write_json({"config": config_record, "run": run.to_dict()}, path)
            scores = ", ".join(f"{name} {run.metrics[name]:.4f}" for name in task.metrics)
            log(f"    {scores}, {run.seconds_per_epoch:.1f} s/epoch wall, "
                f"{run.cpu_seconds_per_epoch:.1f} s/epoch CPU"
                + (" - FAILED: never left chance level (counted in the table)" if run.failed
                   else ""))
            if seed == seeds[0]:
                first_seed_models[variant] = run.model
            run.model = None
            runs.append(run)

    rows, reference = report.summarize(runs, task.metrics, reference=task.default_variants[0])
    table = report.format_table(rows, reference, task.metrics)
    paths = {name: os.path.join(config.output, name) for name in
             ("results.csv", "results.json", "table.md", "learning_curves.png",
              task.example_figure)}
    report.write_csv(rows, paths["results.csv"], task.metrics)
    report.write_json({"config": config_record, "reference": reference, "summary": rows,
                       "runs": [run.to_dict() for run in runs]}, paths["results.json"])
    with open(paths["table.md"], "w") as f:
        f.write(table + "\n")
    plots.plot_learning_curves(
        runs, paths["learning_curves.png"], task.curves,
        title=f"{config.model} on {config.dataset}: mean ± std over {len(seeds)} seeds",
    )
    if not task.draw_examples(first_seed_models, data, config, paths[task.example_figure]):
        del paths[task.example_figure]
    return {"rows": rows, "reference": reference, "table": table, "runs": runs, "paths": paths}
