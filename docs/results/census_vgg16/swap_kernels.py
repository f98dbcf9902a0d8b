"""The VGG16 failure census's swap: is a failed run the gate's doing or its kernels' draw?

Builds seed SEED's original and CAS VGG16 (width 0.25, Glorot, as the census's runs), then trains
the original with the CAS run's conv / dense kernels and the CAS model (identity gates) with the
original run's, on the census's data and recipe (10,000 images, 2 epochs, Adam 1e-3, batch 128):

    python docs/results/census_vgg16/swap_kernels.py 3

docs/RESULTS.md quotes its two lines for seed 3.
"""
import sys

import keras

from keras_adastride.experiments.config import ComparisonConfig
from keras_adastride.experiments.tasks import get_task
from keras_adastride.experiments.train import build_model, fit_run
from keras_adastride.layers import CAS

SEED = int(sys.argv[1]) if len(sys.argv) > 1 else 3
config = ComparisonConfig(model="vgg16", width=0.25, variants=("original", "cas"),
                          train_subset=10000, test_subset=2000, epochs=2, target_stride=None)
task = get_task("classification")
data = task.split(task.load(config), SEED, config)
shape = data["x_train"].shape[1:]


def built(variant):
    keras.utils.set_random_seed(SEED)
    return build_model("vgg16", variant, shape, 10, builder_options=config.builder_options())


def plain(layer):
    """The Conv2D / Dense that holds ``layer``'s kernel (CAS: its conv), or None."""
    inner = layer.conv if isinstance(layer, CAS) else layer
    return inner if isinstance(inner, (keras.layers.Conv2D, keras.layers.Dense)) else None


def kernels(model):
    """{layer name: [kernel, bias]} of the plain convs / dense layers (CAS: its conv)."""
    return {layer.name: [w.numpy() for w in inner.weights] for layer in model.layers
            if (inner := plain(layer)) is not None}


def load(model, weights):
    for layer in model.layers:
        if layer.name in weights:
            for w, value in zip(plain(layer).weights, weights[layer.name]):
                w.assign(value)


def train(model, label):
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history, _ = fit_run(model, data, seed=SEED, epochs=2, batch_size=128, verbose=0)
    acc = model.evaluate(data["x_test"], data["y_test"], batch_size=256, verbose=0)[1]
    spread = model.predict(data["x_test"][:256], verbose=0).std(axis=0).mean()
    print(f"{label}: validation accuracy by epoch "
          f"{[round(v, 3) for v in history.history['val_accuracy']]}, test {acc:.4f}, "
          f"softmax spread over images {spread:.2e}", flush=True)


cas_weights = kernels(built("cas"))
orig_weights = kernels(built("original"))
for variant, weights, whose in (("original", cas_weights, "CAS"),
                               ("cas", orig_weights, "original")):
    model = built(variant)
    load(model, weights)
    train(model, f"seed {SEED}: {variant} with the {whose} run's kernels")
