"""Train the small models of saved_models/ briefly, export them for TF Serving, record samples.

    python saved_models/make_saved_models.py [--out DIR] [--models NAME ...] [--trained NAME=PATH]

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
    unet_cas: U-Net, base_filters=8, CAS at the second downsampling, trained by the
        segmentation task's recipe (keras_adastride.segmentation.training, seed 0) on 3,000
        64x64 canvases of Fashion-MNIST items and MNIST digits (21 classes: background + 20);
    yolox_cas: the detection task's YOLOX-S with CAS in the head (the paper's placements) at
        width 0.1 (0.35 M parameters: files < 2 MB), trained by the task's recipe (seed 0) on
        1,500 96x96 canvases of Fashion-MNIST items; its signature returns NMS-filtered boxes
        (keras_adastride.serving.export_detector) and its .keras file is the same inference
        model (images -> boxes, classes, scores, valid_detections).
"""

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import zipfile

import keras
import numpy as np
import tensorflow as tf

from keras_adastride.data import load_fashion_mnist
from keras_adastride.detection import YOLOXDetector
from keras_adastride.experiments.tasks.detection import (SETUPS, DetectionTask, split_detection,
                                                         train_detector)
from keras_adastride.models import small_vgg
from keras_adastride.serving import (export_detector, export_model, next_version, rest_body,
                                     write_models_config)

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


def unet_samples():
    """Two of the segmentation task's test canvases, as uint8 (the same for every seed)."""
    from keras_adastride.segmentation import training

    data = training.split_for_seed(0, 1, 1, 2)
    return np.round(data["x_test"] * 255.0).astype(np.uint8)


def unet_segmenter():
    """The segmentation task's CAS U-Net trained by its recipe (seed 0 and the settings of the
    command in docs/segmentation.md, whose seed-0 CAS run it repeats); return (model, uint8
    test canvases)."""
    from keras_adastride.segmentation import training

    data = training.split_for_seed(0, training.TRAIN_CANVASES, training.VAL_CANVASES,
                                   training.TEST_CANVASES)
    model, scores, _, _ = training.train_segmentation_run(
        "cas", 0, data, epochs=training.EPOCHS, batch_size=training.BATCH_SIZE, verbose=2)
    print("unet_cas test scores:", {k: round(v, 4) for k, v in scores.items()}, file=sys.stderr)
    return model, unet_samples()


#: the task's CPU-sized YOLOX-S (96x96 canvases) at width 0.1, so that every file is < 2 MB
DETECTOR_SETUP = dataclasses.replace(SETUPS["yolox_s"], width=0.1)


def detector_data(train_canvases=1, val_canvases=1, test_canvases=4):
    """The detection task's seed-0 split for :data:`DETECTOR_SETUP` (its test canvases are the
    same for every seed and count: the first ``test_canvases`` of the task's 500)."""
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist()
    return split_detection((x_train, y_train), (x_test, y_test), 0, DETECTOR_SETUP,
                           train_canvases, val_canvases, test_canvases)


def detector_samples():
    """Four of the detection task's test canvases, as uint8."""
    return np.round(detector_data()["x_test"] * 255.0).astype(np.uint8)


def yolox_detector():
    """The detection task's CAS YOLOX-S at :data:`DETECTOR_SETUP` trained by the task's budget
    (seed 0); return (detector, uint8 test canvases)."""
    budget = DetectionTask.default_budget
    data = detector_data(budget["train_subset"], budget["val_subset"], budget["test_subset"])
    detector, scores, _, _ = train_detector(
        "cas", 0, data, DETECTOR_SETUP, epochs=budget["epochs"], batch_size=budget["batch_size"],
        learning_rate=budget["learning_rate"], verbose=2)
    print("yolox_cas test scores:", {k: round(v, 4) for k, v in scores.items()}, file=sys.stderr)
    return detector, detector_samples()


MODELS = {"fashion_mnist_cas": fashion_mnist_classifier, "unet_cas": unet_segmenter,
          "yolox_cas": yolox_detector}
#: sample inputs of a model given by ``--trained`` instead of trained here
SAMPLES = {"unet_cas": unet_samples}


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
    """Export ``model`` (a classifier / segmenter, or a :class:`YOLOXDetector`) at the next
    version and record its samples; returns the version."""
    version = next_version(out, name)
    export_args = dict(input_dtype="uint8", scale=1 / 255)
    if isinstance(model, YOLOXDetector):
        input_name = model.network.inputs[0].name
        path = export_detector(model, out, name, version, warmup_inputs={input_name: samples},
                               **export_args)
        model = model.inference_model()  # the .keras record: the same images -> boxes model
    else:
        model = without_optimizer(model)
        input_name = model.inputs[0].name
        path = export_model(model, out, name, version, classifier=True,
                            warmup_inputs={input_name: samples}, **export_args)
    outputs = tf.saved_model.load(path).signatures["serving_default"](
        **{input_name: tf.constant(samples)})
    records = out / "records"
    records.mkdir(exist_ok=True)
    stem = records / f"{name}_v{version}"
    model.save(f"{stem}.keras")
    deflate(f"{stem}.keras")
    keras_outputs = model(samples.astype("float32") / 255.0)
    if not isinstance(keras_outputs, dict):
        keras_outputs = {model.output_names[0]: keras_outputs}
    np.savez_compressed(
        f"{stem}.npz",
        **{f"inputs.{input_name}": samples},
        **{f"outputs.{k}": v.numpy() for k, v in outputs.items()},
        **{f"keras.{k}": keras.ops.convert_to_numpy(v) for k, v in keras_outputs.items()},
    )
    with open(f"{stem}.request.json", "w") as file:
        json.dump(rest_body({input_name: samples}), file)
    print(f"{name}: version {version} at {path}", file=sys.stderr)
    return version


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=HERE, help="default: this folder")
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument("--trained", nargs="+", default=[], metavar="NAME=PATH",
                        help=f"export the .keras model at PATH as NAME instead of training it "
                             f"(a model trained by the same recipe, e.g. the seed-0 CAS U-Net of "
                             f"the segmentation run in docs/RESULTS.md); NAME in {sorted(SAMPLES)}")
    args = parser.parse_args(argv)
    trained = dict(item.split("=", 1) for item in args.trained)
    unknown = set(trained) - set(SAMPLES)
    if unknown:
        parser.error(f"--trained: {sorted(unknown)} not in {sorted(SAMPLES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.models:
        keras.utils.set_random_seed(0)
        if name in trained:
            import keras_adastride  # noqa: F401  (registers the layers for load_model)

            model, samples = keras.models.load_model(trained[name]), SAMPLES[name]()
        else:
            model, samples = MODELS[name]()
        export_and_record(name, model, samples, args.out)
    served = sorted(n for n in MODELS if os.path.isdir(args.out / n))
    write_models_config(args.out / "models.config", {n: f"{SERVER_BASE}/{n}" for n in served})


if __name__ == "__main__":
    main()
