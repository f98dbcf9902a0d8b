"""Detection: YOLOX on composite canvases of real items, scored by COCO AP (pycocotools).

Per seed s: training canvases are composed (:func:`keras_adastride.detection.
composite_detection_set`) from the training items with seed s, validation canvases from items
held out of training (seed 10,000 + s; their AP after every epoch is the learning curve), and
the test canvases from the test items with one fixed seed, the same for every run. Every variant
of a seed sees the same canvases in the same order.

Recipe of every run: ``models.yolox`` at ``width`` / ``depth`` (default 0.25 / 0.33 on 96x96
canvases: a run takes minutes on a 2-core CPU; ``--full-yolox-s`` gives YOLOX-S itself, width
0.50, on 640x640), wrapped in :class:`keras_adastride.detection.YOLOXDetector`, Adam, ``epochs``
passes in batches of ``batch_size``; detection thresholds of YOLOX's COCO evaluation (score
0.01, NMS IoU 0.65, 100 detections).
"""

import dataclasses

import numpy as np

#: the scores every detection run reports (fractions; "AP" is the primary one)
METRICS = ("AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large")
TEST_SEED = 12345
VAL_SEED_OFFSET = 10000


@dataclasses.dataclass
class DetectionSetup:
    """What the detection task adds to the comparison's configuration.

    ``canvas_size`` (a multiple of 32), ``objects_per_canvas`` (min, max), ``scale_range`` of the
    pasted items, ``width`` / ``depth`` of YOLOX, ``test_canvases`` scored per run.
    """

    canvas_size: int = 96
    objects_per_canvas: tuple = (0, 4)
    scale_range: tuple = (0.5, 1.5)
    width: float = 0.25
    depth: float = 0.33
    test_canvases: int = 500
    val_canvases: int = 200

    @classmethod
    def full_yolox_s(cls, **overrides):
        """YOLOX-S as published (width 0.50, depth 0.33) on 640x640 canvases with 4..20 items
        at 0.5x..3x (a GPU-sized configuration)."""
        return cls(**{**dict(canvas_size=640, objects_per_canvas=(4, 20), scale_range=(0.5, 3.0),
                             width=0.50, depth=0.33), **overrides})

    def __post_init__(self):
        from keras_adastride.detection.grid import check_canvas_size

        check_canvas_size("detection task", self.canvas_size)
        for name in ("test_canvases", "val_canvases"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")


def split_detection(train, test, seed, train_canvases, setup):
    """Canvases and targets of one seed: ``x_train, y_train, x_val, y_val, x_test, y_test``
    (``y_*`` target dicts of :func:`keras_adastride.detection.boxes_to_targets`)."""
    from keras_adastride.detection import composite_detection_set

    (x_train, y_train), (x_test, y_test) = train, test
    order = np.random.default_rng(seed).permutation(len(y_train))
    held_out, used = order[:len(order) // 10], order[len(order) // 10:]
    options = dict(canvas_size=setup.canvas_size, num_classes=10,
                   objects_per_canvas=setup.objects_per_canvas, scale_range=setup.scale_range)
    data = {}
    for part, (images, labels, count, part_seed) in {
        "train": (x_train[used], y_train[used], train_canvases, seed),
        "val": (x_train[held_out], y_train[held_out], setup.val_canvases,
                VAL_SEED_OFFSET + seed),
        "test": (x_test, y_test, setup.test_canvases, TEST_SEED),
    }.items():
        data[f"x_{part}"], data[f"y_{part}"] = composite_detection_set(
            images, labels, count, seed=part_seed, **options)
    return data


def train_detector(model_name, variant, seed, data, setup, *, epochs, batch_size,
                   learning_rate=1e-3, verbose=1, gate_options=None):
    """Build, train and score one run; returns ``(detector, scores, history, epoch_seconds)``
    with ``scores`` the test ``METRICS`` plus ``test_loss`` and its ``box/obj/cls`` parts."""
    import keras

    from keras_adastride import models
    from keras_adastride.detection import YOLOXDetector, coco_metrics
    from keras_adastride.detection.callbacks import COCOEvaluation
    from keras_adastride.experiments.train import EpochTimer, default_jit_compile

    keras.utils.set_random_seed(seed)
    builder = getattr(models, model_name)
    network = builder(input_shape=data["x_train"].shape[1:], num_classes=10, width=setup.width,
                      depth=setup.depth, downsampling=variant, gate_options=gate_options)
    detector = YOLOXDetector(network)
    detector.compile(optimizer=keras.optimizers.Adam(learning_rate),
                     jit_compile=default_jit_compile())
    timer = EpochTimer()
    history = detector.fit(
        data["x_train"], data["y_train"], batch_size=batch_size, epochs=epochs, shuffle=True,
        validation_data=(data["x_val"], data["y_val"]), verbose=verbose,
        callbacks=[COCOEvaluation(data["x_val"], data["y_val"]), timer])
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


def _summary(records, metrics=("AP", "AP50", "AP_small", "AP_medium", "test_loss")):
    """Per variant: mean ± std of each metric and the paired (by seed) difference to original
    with its 95% interval; params, FLOPs, seconds per epoch and its ratio to original."""
    from keras_adastride.experiments.stats import mean_std, paired_difference_ci

    by_variant = {}
    for r in records:
        by_variant.setdefault(r["variant"], {})[r["seed"]] = r
    reference = by_variant.get("original") or next(iter(by_variant.values()))
    ref_time = np.mean([r["seconds_per_epoch"] for r in reference.values()])
    rows = []
    for variant, seeded in by_variant.items():
        seeds = sorted(s for s in seeded if s in reference)
        row = {"variant": variant, "seeds": len(seeds), "params": seeded[seeds[0]]["params"],
               "flops": seeded[seeds[0]]["flops"]}
        for m in metrics:
            row[f"{m}_mean"], row[f"{m}_std"] = mean_std([seeded[s]["metrics"][m] for s in seeds])
            row[f"{m}_diff"], row[f"{m}_low"], row[f"{m}_high"] = paired_difference_ci(
                [seeded[s]["metrics"][m] for s in seeds],
                [reference[s]["metrics"][m] for s in seeds])
        row["seconds_per_epoch"] = float(np.mean([seeded[s]["seconds_per_epoch"] for s in seeds]))
        row["time_ratio"] = row["seconds_per_epoch"] / ref_time
        row["effective_strides"] = {k: float(np.mean([seeded[s]["effective_strides"][k]
                                                      for s in seeds]))
                                    for k in seeded[seeds[0]]["effective_strides"]}
        rows.append(row)
    return rows


def main(argv=None):
    """Thin entry point: ``python -m keras_adastride.experiments.tasks.detection``."""
    import argparse
    import json
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default="original,cas,spd")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--train-canvases", type=int, default=1500)
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--output", default="detection_results")
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)
    from keras_adastride.data import load_dataset
    from keras_adastride.experiments.train import effective_strides
    from keras_adastride.flops import count_flops

    setup = DetectionSetup()
    os.makedirs(os.path.join(args.output, "runs"), exist_ok=True)
    train, test = load_dataset(args.dataset)
    records, first = [], {}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        data = split_detection(train, test, seed, args.train_canvases, setup)
        for variant in args.variants.split(","):
            print(f"[seed {seed}] {variant}", flush=True)
            detector, scores, history, timer = train_detector(
                "yolox_s", variant, seed, data, setup, epochs=args.epochs,
                batch_size=args.batch_size, learning_rate=args.learning_rate,
                verbose=args.verbose)
            times = timer.seconds[1:] or timer.seconds
            record = {"variant": variant, "seed": seed, "metrics": scores,
                      "history": {k: [float(v) for v in vs]
                                  for k, vs in history.history.items()},
                      "epoch_seconds": timer.seconds, "seconds_per_epoch": float(np.mean(times)),
                      "params": int(detector.network.count_params()),
                      "flops": int(count_flops(detector.network)),
                      "effective_strides": effective_strides(detector.network,
                                                             data["x_test"][:200])}
            print(json.dumps(scores), flush=True)
            with open(os.path.join(args.output, "runs", f"{variant}_seed{seed}.json"), "w") as f:
                json.dump(record, f, indent=1)
            records.append(record)
            if seed == args.first_seed:
                first[variant] = detector
        rows = _summary(records)
        with open(os.path.join(args.output, "results.json"), "w") as f:
            json.dump({"args": vars(args), "setup": dataclasses.asdict(setup), "summary": rows,
                       "runs": records}, f, indent=1, default=float)
        draw_detections(first, data, os.path.join(args.output, "detections.png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
