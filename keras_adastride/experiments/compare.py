"""The main job: train every downsampling variant of a model with several seeds and compare.

For seed ``s`` the training subset, the validation images and the shuffling are drawn from ``s``,
identically for every variant, so variants pair up by seed. Outputs in ``config.output``:
``results.csv`` (one line per variant), ``results.json`` (configuration, summary, every run with
its history), ``table.md``, ``learning_curves.png`` and ``gate_maps.png`` (Figure 10 of the paper,
from the first seed's CAS / PAS models).
"""

import dataclasses
import os

import numpy as np

from keras_adastride.data import load_dataset, prepare_images
from keras_adastride.experiments import plots, report
from keras_adastride.experiments.train import adaptive_layer_inputs, train_run

DEFAULT_VARIANTS = ("original", "cas", "pas", "spd")


@dataclasses.dataclass
class ComparisonConfig:
    """What to compare and how long to train; the defaults are the README's main job.

    ``train_subset`` / ``test_subset``: how many training / test images to use (None = all);
    ``val_subset``: held-out training images scored after each epoch (the learning curves);
    ``target_stride`` / ``target_stride_weight``: the gate budget given to every CAS / PAS layer
    (None: no budget, the gates are free), so a CAS gate is pulled towards keeping
    1/target_stride² of its positions.
    """

    model: str = "small_vgg"
    dataset: str = "fashion_mnist"
    variants: tuple = DEFAULT_VARIANTS
    epochs: int = 3
    seeds: int = 3
    first_seed: int = 0
    batch_size: int = 128
    train_subset: int = 5000
    val_subset: int = 1000
    test_subset: int = None
    learning_rate: float = 1e-3
    output: str = "adastride_results"
    verbose: int = 1
    gate_images: int = 4
    target_stride: float = None
    target_stride_weight: float = 0.1

    def __post_init__(self):
        self.variants = tuple(self.variants)
        if not self.variants or len(set(self.variants)) != len(self.variants):
            raise ValueError(f"variants must be distinct and non-empty, got {self.variants!r}.")
        for name in ("epochs", "seeds", "batch_size", "val_subset", "gate_images"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}.")
        for name in ("train_subset", "test_subset"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be >= 1 or None (all), got {value!r}.")
        if self.target_stride is not None and not self.target_stride >= 1:
            raise ValueError(f"target_stride must be >= 1 or None, got {self.target_stride!r}.")
        if not self.target_stride_weight > 0:
            raise ValueError(
                f"target_stride_weight must be > 0, got {self.target_stride_weight!r}.")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}.")
        if self.verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {self.verbose!r}.")

    def gate_options(self):
        """Extra CAS / PAS arguments for the builders (the ``target_stride`` budget, if any)."""
        if self.target_stride is None:
            return None
        return {"target_stride": float(self.target_stride),
                "target_stride_weight": float(self.target_stride_weight)}


def split_for_seed(train, test, seed, train_subset, val_subset, test_subset):
    """Model-ready arrays for one seed: disjoint random train / validation subsets of the
    training set, drawn from ``seed``; the first ``test_subset`` test images (all when None)."""
    (x_train, y_train), (x_test, y_test) = train, test
    if val_subset >= len(y_train):
        raise ValueError(
            f"val_subset must be smaller than the {len(y_train)} training images, got {val_subset}."
        )
    order = np.random.default_rng(seed).permutation(len(y_train))
    val_index = order[:val_subset]
    train_index = order[val_subset:]
    if train_subset is not None:
        train_index = train_index[:train_subset]
    test_index = slice(None) if test_subset is None else slice(test_subset)
    as_labels = lambda y: np.asarray(y, np.int32)  # noqa: E731
    return {
        "x_train": prepare_images(x_train[train_index]), "y_train": as_labels(y_train[train_index]),
        "x_val": prepare_images(x_train[val_index]), "y_val": as_labels(y_train[val_index]),
        "x_test": prepare_images(x_test[test_index]), "y_test": as_labels(y_test[test_index]),
    }


def _pick_gate_images(x_test, y_test, count):
    """Test images of ``count`` different classes where possible (first of each class)."""
    firsts = [int(np.flatnonzero(y_test == c)[0]) for c in np.unique(y_test)]
    picks = (firsts + [i for i in range(len(y_test)) if i not in firsts])[:count]
    return x_test[picks]


def gate_maps_by_layer(models, images):
    """``{"variant: layer": gate map on images}`` for every CAS / PAS layer of the models."""
    maps = {}
    for variant, model in models.items():
        for name, (layer, inputs) in adaptive_layer_inputs(model, images).items():
            maps[f"{variant}: {name}"] = np.asarray(layer.gate_map(inputs))
    return maps


def run_comparison(config, log=print):
    """Run ``config`` end to end; returns ``{"rows", "reference", "table", "runs", "paths"}``."""
    plots.pyplot()  # a missing matplotlib fails here, not after the training
    os.makedirs(config.output, exist_ok=True)
    train, test = load_dataset(config.dataset)
    seeds = [config.first_seed + i for i in range(config.seeds)]
    runs, first_seed_models, data = [], {}, None
    gate_options = config.gate_options()
    total = len(seeds) * len(config.variants)
    for seed in seeds:
        data = split_for_seed(train, test, seed, config.train_subset, config.val_subset,
                              config.test_subset)
        for variant in config.variants:
            log(f"[run {len(runs) + 1}/{total}] {config.model} / {variant} / seed {seed}: "
                f"{len(data['y_train'])} training images, {config.epochs} epochs")
            run = train_run(config.model, variant, seed, data, epochs=config.epochs,
                            batch_size=config.batch_size, learning_rate=config.learning_rate,
                            verbose=config.verbose, gate_options=gate_options)
            log(f"    test accuracy {run.test_accuracy:.4f}, {run.seconds_per_epoch:.1f} s/epoch")
            if seed == seeds[0] and run.effective_strides:
                first_seed_models[variant] = run.model
            run.model = None
            runs.append(run)

    rows, reference = report.summarize(runs, reference="original")
    table = report.format_table(rows, reference)
    paths = {name: os.path.join(config.output, name) for name in
             ("results.csv", "results.json", "table.md", "learning_curves.png", "gate_maps.png")}
    report.write_csv(rows, paths["results.csv"])
    report.write_json({"config": dataclasses.asdict(config), "reference": reference,
                       "summary": rows, "runs": [run.to_dict() for run in runs]},
                      paths["results.json"])
    with open(paths["table.md"], "w") as f:
        f.write(table + "\n")
    plots.plot_learning_curves(
        runs, paths["learning_curves.png"],
        title=f"{config.model} on {config.dataset}: mean ± std over {len(seeds)} seeds",
    )
    if first_seed_models:
        images = _pick_gate_images(data["x_test"], data["y_test"], config.gate_images)
        plots.plot_gate_maps(images, gate_maps_by_layer(first_seed_models, images),
                             paths["gate_maps.png"],
                             title=f"{config.model} on {config.dataset}, seed {seeds[0]}: "
                                   "gate maps (0 = dropped position;\neach map on its own colour scale)")
    else:
        del paths["gate_maps.png"]
    return {"rows": rows, "reference": reference, "table": table, "runs": runs, "paths": paths}
