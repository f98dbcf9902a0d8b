"""The comparison harness: train downsampling variants over seeds, summarise, plot.

- :func:`run_comparison` / :class:`ComparisonConfig`: the main job (also ``keras-adastride``);
- :func:`train_run`: one (model, variant, seed) training run;
- ``report``: per-variant summary, table, CSV, JSON; ``plots``: learning curves, gate maps;
- ``stats``: mean ± std and the paired Student-t interval.
"""

from keras_adastride.experiments.compare import ComparisonConfig, run_comparison
from keras_adastride.experiments.train import RunResult, effective_strides, train_run

__all__ = ["ComparisonConfig", "RunResult", "effective_strides", "run_comparison", "train_run"]
