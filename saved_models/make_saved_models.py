"""Train the small models of saved_models/ briefly, export them for TF Serving, record samples.

    python saved_models/make_saved_models.py [--out DIR]

For each model NAME this writes, at the next free VERSION (earlier versions are never touched):
    DIR/NAME/VERSION/                  the TF Serving SavedModel (uint8 images in, probabilities
                                       and class ids out, a warm-up request in assets.extra/)
    DIR/records/NAME_vVERSION.keras    the same model as a .keras file (no optimizer state,
                                       zip members deflated)
    DIR/records/NAME_vVERSION.npz      sample inputs and the outputs recorded at export time:
                                       inputs.<key>, outputs.<key> (the signature's) and
                                       keras.<output> (the .keras model on inputs / 255)
    DIR/records/NAME_vVERSION.request.json   a REST body (row form) of the sample inputs
and DIR/models.config listing every model for ``--model_config_file``. Models:
    fashion_mnist_cas: small_vgg's conv blocks (CAS at the paper's places) + global average
        pooling + a 10-way softmax, trained on 12,000 Fashion-MNIST images (~1.2 MB of weights;
        small_vgg's 256-unit dense top would make the files 2.4 MB);
    unet_cas: U-Net, base_filters=8, CAS at the second downsampling, trained on 2,000 64x64
        composite canvases of Fashion-MNIST items (11 classes: background + 10).
"""

import argparse
import json
import os
import pathlib
import sys
import zipfile

import keras
import numpy as np
import tensorflow as tf

from keras_adastride.data import load_fashion_mnist, make_composite
from keras_adastride.models import small_vgg, unet
from keras_adastride.serving import export_model, next_version, rest_body, write_models_config

HERE = pathlib.Path(__file__).resolve().parent
SERVER_BASE = "/models"  # where the README's docker command mounts this folder


def fashion_mnist_classifier():
    """Train the CAS classifier; return (model, uint8 sample images (N, 28, 28, 1))."""
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    backbone = small_vgg((28, 28, 1), 10, downsampling="cas", include_top=False, pooling="avg")
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(backbone.output)
    model = keras.Model(backbone.input, outputs, name="fashion_mnist_cas")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train[:12000, ..., None] / 255.0, y_train[:12000], batch_size=64, epochs=2,
              validation_data=(x_test[:2000, ..., None] / 255.0, y_test[:2000]), verbose=2)
    # one clearly classified test image per class: recorded class ids then hold on any CPU
    probabilities = model.predict(x_test[:500, ..., None] / 255.0, verbose=0)
    top2 = np.sort(probabilities, axis=-1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 0.05
    picks = [np.flatnonzero(clear & (probabilities.argmax(-1) == c))[:1] for c in range(10)]
    picks = np.concatenate(picks)
    return model, x_test[picks, ..., None]


def unet_segmenter():
    """Train the CAS U-Net on composite canvases; return (model, uint8 sample canvases)."""
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    train = make_composite(x_train[:6000], y_train[:6000], 2000, canvas_size=64, seed=0)
    test = make_composite(x_test[:200], y_test[:200], 2, canvas_size=64, seed=1)
    model = unet((64, 64, 1), 11, base_filters=8, downsampling="cas", name="unet_cas")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    images = np.round(train["images"] * 255.0) / 255.0  # exactly what uint8 clients can send
    model.fit(images, train["masks"], batch_size=32, epochs=4, verbose=2)
    return model, np.round(test["images"] * 255.0).astype(np.uint8)


MODELS = {"fashion_mnist_cas": fashion_mnist_classifier, "unet_cas": unet_segmenter}


def without_optimizer(model):
    """An uncompiled copy with the same weights (exports and .keras files carry no Adam slots)."""
    copy = keras.Model.from_config(model.get_config())  # clone_model would keep compile()
    copy.set_weights(model.get_weights())
    return copy


def deflate(path):
    """Recompress a .keras zip (Keras stores its members uncompressed; U-Net: 2.08 -> 1.81 MB)."""
    with zipfile.ZipFile(path) as source:
        members = [(info.filename, source.read(info)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for name, data in members:
            target.writestr(name, data)


def export_and_record(name, model, samples, out):
    """Export ``model`` at the next version and record its samples; returns the version."""
    model = without_optimizer(model)
    version = next_version(out, name)
    input_name = model.inputs[0].name
    path = export_model(model, out, name, version, input_dtype="uint8", scale=1 / 255,
                        classifier=True, warmup_inputs={input_name: samples})
    outputs = tf.saved_model.load(path).signatures["serving_default"](
        **{input_name: tf.constant(samples)})
    records = out / "records"
    records.mkdir(exist_ok=True)
    stem = records / f"{name}_v{version}"
    model.save(f"{stem}.keras")
    deflate(f"{stem}.keras")
    keras_outputs = keras.ops.convert_to_numpy(model(samples.astype("float32") / 255.0))
    np.savez_compressed(
        f"{stem}.npz",
        **{f"inputs.{input_name}": samples},
        **{f"outputs.{k}": v.numpy() for k, v in outputs.items()},
        **{f"keras.{model.output_names[0]}": keras_outputs},
    )
    with open(f"{stem}.request.json", "w") as file:
        json.dump(rest_body({input_name: samples}), file)
    print(f"{name}: version {version} at {path}", file=sys.stderr)
    return version


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=HERE, help="default: this folder")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        keras.utils.set_random_seed(0)
        model, samples = MODELS[name]()
        export_and_record(name, model, samples, args.out)
    served = sorted(n for n in MODELS if os.path.isdir(args.out / n))
    write_models_config(args.out / "models.config", {n: f"{SERVER_BASE}/{n}" for n in served})


if __name__ == "__main__":
    main()
