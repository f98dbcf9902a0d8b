"""Summarise the run files of the segmentation RESULTS run with the main job's own writers."""
import glob, json, os, sys
import numpy as np
import keras
import keras_adastride  # noqa: F401
from keras_adastride.experiments import plots, report
from keras_adastride.experiments.train import RunResult
from keras_adastride.experiments.config import ComparisonConfig
from keras_adastride.experiments.tasks import get_task
from keras_adastride.segmentation import CLASS_NAMES
from keras_adastride.segmentation.training import split_for_seed, VARIANTS

SRC, OUT = sys.argv[1], sys.argv[2]
os.makedirs(os.path.join(OUT, "runs"), exist_ok=True)
config = ComparisonConfig(task="segmentation", seeds=3, epochs=8, batch_size=32, train_subset=3000,
                          val_subset=500, test_subset=1000, output=OUT, verbose=2)
task = get_task("segmentation")
runs = []
for variant in VARIANTS:
    for path in sorted(glob.glob(f"{SRC}/{variant}_seed*.json")):
        record = json.load(open(path))
        runs.append(RunResult(**record))
        report.write_json({"config": vars(config), "run": runs[-1].to_dict()},
                          os.path.join(OUT, "runs", os.path.basename(path)))
rows, reference = report.summarize(runs, task.metrics, reference="original")
table = report.format_table(rows, reference, task.metrics)
report.write_csv(rows, os.path.join(OUT, "results.csv"), task.metrics)
report.write_json({"config": vars(config), "reference": reference, "summary": rows,
                   "runs": [r.to_dict() for r in runs]}, os.path.join(OUT, "results.json"))
open(os.path.join(OUT, "table.md"), "w").write(table + "\n")
print(table)
seeds = sorted({r.seed for r in runs})
plots.plot_learning_curves(runs, os.path.join(OUT, "learning_curves.png"), task.curves,
                           title="U-Net (base 8) variants and the no-downsampling net (nodown) on composite canvases: mean ± std over seeds")
# per-class IoU, mean over seeds
names = CLASS_NAMES
lines = ["| class | " + " | ".join(VARIANTS) + " |", "|---|" + "---|" * len(VARIANTS)]
for name in names:
    cells = []
    for v in VARIANTS:
        vals = [r.metrics[f"test_iou/{name}"] for r in runs if r.variant == v]
        cells.append(f"{100 * np.nanmean(vals):.1f}" if vals else "-")
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
per_class = "\n".join(lines)
open(os.path.join(OUT, "per_class_iou.md"), "w").write(per_class + "\n")
print(per_class)
# timing: cpu ratio with spread per seed
for v in VARIANTS:
    ratio = [r.cpu_seconds_per_epoch / next(o.cpu_seconds_per_epoch for o in runs if o.variant == "original" and o.seed == r.seed)
             for r in runs if r.variant == v]
    print(v, "cpu ratio per seed", [round(x, 2) for x in ratio], "wall", [round(r.seconds_per_epoch, 1) for r in runs if r.variant == v])
data = split_for_seed(0, 1, 1, config.test_subset)
print("background share of test pixels", float(np.mean(data["y_test"] == 0)))
if len(sys.argv) > 3:
    models = {v: keras.models.load_model(f"{SRC}/{v}_seed0.keras") for v in VARIANTS
              if os.path.exists(f"{SRC}/{v}_seed0.keras")}
    config.gate_images = 4
    task.draw_examples(models, data, config, os.path.join(OUT, "segmentations.png"))
