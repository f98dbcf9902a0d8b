"""The comparison harness: train downsampling variants over seeds, summarise, plot.

- :func:`run_comparison` / :class:`ComparisonConfig`: the main job (also ``keras-adastride``);
- ``tasks``: what is trained and scored (``TASKS``: classification; how to add one);
- ``train``: what every run shares (:class:`RunResult`, epoch timing, effective strides);
- ``report``: per-variant summary, table, CSV, JSON; ``plots``: learning curves, gate maps;
- ``stats``: mean ± std and the paired Student-t interval.

The names below are imported on first use, so that ``config`` and ``tasks`` (what the command
line needs to check its arguments) load without TensorFlow.
"""

import importlib

_PUBLIC = {
    "ComparisonConfig": "keras_adastride.experiments.config",
    "run_comparison": "keras_adastride.experiments.compare",
    "TASKS": "keras_adastride.experiments.tasks",
    "RunResult": "keras_adastride.experiments.train",
    "effective_strides": "keras_adastride.experiments.train",
    "train_classifier": "keras_adastride.experiments.tasks.classification",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'keras_adastride.experiments' has no attribute {name!r}")
