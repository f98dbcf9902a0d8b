"""The deployment matrix: every builder x variant x deployment path, each cell ok or its error.

    python -m keras_adastride.tfmot.matrix [--models NAME ...] [--write docs/DEPLOYMENT_MATRIX.md]

Paths (one model of each builder at its smallest trainable size, trained briefly on real
Fashion-MNIST images resized to its input, so that its outputs have margins):

    keras       ``model.save(.keras)``, loaded in a fresh process: outputs equal (<= 1e-5)
    savedmodel  ``keras_adastride.serving.export_model`` (refuses XLA attributes), loaded in a
                process where ``keras_adastride`` cannot be imported: outputs equal (<= 1e-5)
    tflite      float TFLite of the Keras 3 model: outputs within 1e-5 (relative to the largest);
                where they are not, TFLite's outputs within 1e-5 of the float64 evaluation
    pruning     ``to_tf_keras``, TFMOT magnitude pruning to 50%, ``strip_pruning``,
                ``to_keras3``, saved as .keras: every pruned kernel's sparsity, measured on the
                weights loaded back from that file, within 1 point of 50%
    qat_int8    ``to_tf_keras``, ``fold_batch_norms`` (:data:`FOLD_BATCH_NORMS`; then
                ``FoldedQuantizeScheme``),
                ``quantize_annotate_model`` / ``quantize_apply``, activation
                ranges calibrated (:func:`_calibrate_ranges`), one QAT epoch (:data:`QAT_BATCH`), int8 TFLite
                from the QAT ranges: top-1 (argmax over the last axis, per
                position for maps) agrees with the QAT Keras model on >= 99% of the evaluation
                images (detection: >= 99% of the anchor x class scores within 5% of their
                range, :func:`_score_agreement`); the ops left in float are listed

A cell that fails holds the exact error. The two out-of-process checks run once per builder,
in one subprocess (SavedModels first, with ``keras_adastride`` blocked; then the .keras files).

The script runs each builder x variant in a process of its own (``isolate=True``): TensorFlow
keeps what a model's graphs, QAT wrappers and TFLite conversions allocated after the model is
gone (``clear_session`` and ``gc.collect`` return little of it), so one process for the whole
matrix grew to 19.5 GB and was killed by the kernel. A process whose resident memory passes
``--max-rss-gb`` (default 5) is stopped and its remaining cells record that; the table gives
each process's peak.
"""

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

#: path -> what it checks (table header)
PATHS = ("keras", "savedmodel", "tflite", "pruning", "qat_int8")
AGREEMENT = 0.99  # top-1 agreement of int8 TFLite with the QAT model, on decisive positions
DECISIVE = 0.05  # a position is decisive if its top-1 margin is >= 5% of the output's range
MIN_DECISIVE = 0.5  # fewer decisive positions than this fraction: the measure says nothing
#: where the evaluation images give int8 / QAT agreement under AGREEMENT, this many more images
#: (Fashion-MNIST's training split: every row trains and evaluates on test-split images) are
#: run too and all of them decide: near 99% a few hundred images cannot tell (ResNet-50 CAS:
#: 3 of 248 differed, 98.8%; 9 of 2,007 train-split images, 99.55% [99.15, 99.76]; docs/TFMOT.md)
WIDER_COUNT = 2048
SCORE_TOLERANCE = 0.05  # detection: a score agrees if within 5% of the reference's score range
SPARSITY = 0.5
#: qat_int8: every BatchNormalization after a Conv2D / DepthwiseConv2D folded into it before QAT
#: (``kat.fold_batch_norms``, ``kat.FoldedQuantizeScheme``; docs/TFMOT.md)
FOLD_BATCH_NORMS = True
TFMOT_EMA_DECAY = 0.999  # of TFMOT's activation ranges (quant_ops.MovingAvgQuantize)
#: float training before the paths, so that top-1 agreement measures quantization and not the
#: order of near-equal classes of a net that has not learned yet: at least MIN_TRAIN_EPOCHS,
#: then epoch by epoch until the accuracy on VALIDATION_COUNT held-out images reaches
#: TRAIN_ACCURACY (6x chance for 10 classes), at most MAX_TRAIN_EPOCHS; after each epoch the
#: BatchNormalization statistics are those of SETTLE_COUNT training images (one batch:
#: keras_adastride.experiments.batch_norm.settle_batch_norms)
MIN_TRAIN_EPOCHS = 3
MAX_TRAIN_EPOCHS = 15
TRAIN_ACCURACY = 0.6
VALIDATION_COUNT = 256
SETTLE_COUNT = 512
#: QAT: one epoch over the row's training images at this batch size (16 steps on 1,024 images,
#: 144 on 9,216): one rule for every row, not a measured gain (on ResNet-50 the QAT length moved
#: the 256-image agreement a few images either way: docs/TFMOT.md)
QAT_BATCH = 64


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A row's float training where it differs from the defaults above: ``images`` training
    images (None: :func:`run_matrix`'s ``train_count``), the held-out ``accuracy`` to reach,
    ``max_epochs``; ``he_init``: every Glorot-drawn ``Conv2D`` / ``Dense`` kernel drawn
    again from He-normal before training
    (:func:`keras_adastride.initializers.redraw_default_kernels`). Detection: ``max_epochs``
    epochs of the YOLOX loss on ``images`` canvases."""

    images: int = None
    accuracy: float = TRAIN_ACCURACY
    max_epochs: int = MAX_TRAIN_EPOCHS
    he_init: bool = False


#: the builders whose nets had too small margins for the int8 check on the default recipe
#: (docs/TFMOT.md): 4x the images, 75% held-out accuracy
LONGER = Recipe(images=4096, accuracy=0.75, max_epochs=20)
#: those still under 99% int8 agreement on LONGER: every test image the evaluation and
#: validation images leave (9 x 1024 of 10,000), until 85% held-out, at most 25 epochs
#: (unpruned, as the matrix quantizes since 53bf670: MobileNet original 68% -> 76% held-out,
#: int8 / QAT 98.4% -> 99.6%; ResNet-50 original 77% -> 81%, 96.7% -> 100.0%; docs/TFMOT.md)
LONGEST = Recipe(images=9216, accuracy=0.85, max_epochs=25)


@dataclasses.dataclass(frozen=True)
class Spec:
    """One builder at its smallest trainable size: the builder's keyword arguments, variants,
    its training :class:`Recipe`."""

    builder: str
    kwargs: dict
    variants: tuple
    task: str = "classify"  # "classify" | "segment" | "detect"
    make: object = None  # builder(downsampling=variant, **kwargs) if not keras_adastride.models
    recipe: Recipe = Recipe()

    @property
    def input_shape(self):
        return tuple(self.kwargs["input_shape"])

    def build(self, variant):
        from keras_adastride import models

        make = self.make or getattr(models, self.builder)
        return make(downsampling=variant, **self.kwargs)


#: cheapest first, so that a long run leaves most rows early
SPECS = (
    Spec("dilated_vgg", dict(input_shape=(16, 16, 1), num_classes=10),
         ("original", "strided", "cas", "spd")),
    Spec("small_vgg", dict(input_shape=(28, 28, 1), num_classes=10),
         ("original", "cas", "pas", "spd")),
    Spec("unet", dict(input_shape=(32, 32, 1), num_classes=2, base_filters=4),
         ("original", "cas", "pas", "spd"), task="segment"),
    Spec("dilated_segnet", dict(input_shape=(16, 16, 1), num_classes=2),
         ("original", "cas"), task="segment"),
    Spec("mobilenet", dict(input_shape=(32, 32, 1), num_classes=10, alpha=0.25),
         ("original", "cas", "spd"), recipe=LONGEST),
    Spec("alexnet", dict(input_shape=(32, 32, 3), num_classes=10),
         ("original", "cas", "pas", "spd")),
    Spec("yolox", dict(input_shape=(64, 64, 1), num_classes=2, depth=0.33, width=0.125),
         ("original", "cas", "spd"), task="detect", recipe=Recipe(images=1024, max_epochs=4)),
    Spec("resnet18", dict(input_shape=(32, 32, 1), num_classes=10, alpha=0.25),
         ("original", "cas", "pas", "spd"), recipe=LONGER),
    Spec("vgg11", dict(input_shape=(32, 32, 1), num_classes=10, alpha=0.25),
         ("original", "cas", "pas", "spd"), recipe=LONGER),
    Spec("vgg16", dict(input_shape=(32, 32, 1), num_classes=10, alpha=0.25),
         ("original", "cas", "pas", "spd"),
         recipe=dataclasses.replace(LONGEST, he_init=True)),
    Spec("resnet50", dict(input_shape=(32, 32, 1), num_classes=10, alpha=0.25),
         ("original", "cas", "pas", "spd"), recipe=LONGEST),
)
SPECS_BY_NAME = {spec.builder: spec for spec in SPECS}


@dataclasses.dataclass
class Cell:
    ok: bool
    detail: str

    def markdown(self):
        text = self.detail.replace("|", "\\|").replace("\n", " ")
        return f"ok: {text}" if self.ok else f"**error**: {text}"


def _error(err):
    text = f"{type(err).__name__}: {err}".strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # TFLite's converter errors hold pages of MLIR; keep the lines that say what failed.
    key = [line for line in lines if "error:" in line or "ops:" in line or "Error" in line]
    return " / ".join((key or lines)[:3])[:400]


def _images(shape, count, offset=0, split="test"):
    """Real Fashion-MNIST images of ``split`` ("test" or "train") in [0, 1], resized to
    ``shape`` (H, W, C), and labels."""
    import tensorflow as tf

    from keras_adastride.data import load_fashion_mnist

    train, test = load_fashion_mnist()
    x, y = test if split == "test" else train
    x = x[offset:offset + count, ..., None].astype("float32") / 255.0
    x = tf.image.resize(x, shape[:2]).numpy()
    return np.repeat(x, shape[2], axis=-1), y[offset:offset + count]


def _targets(spec, x, y):
    if spec.task == "classify":
        return y
    if spec.task == "segment":  # foreground where the garment is: masks follow from the pixels
        return (x[..., 0] > 0.25).astype("int32")
    return None  # detection: pruning and QAT fit the trained net's own raw maps


def _flat(outputs):
    import keras

    return [np.asarray(o) for o in keras.tree.flatten(outputs)]


def _max_diff(a, b):
    return max(float(np.max(np.abs(p - q))) for p, q in zip(_flat(a), _flat(b)))


def _scale(a):
    return max(1.0, max(float(np.max(np.abs(p))) for p in _flat(a)))


def float_tflite(export_dir):
    """Float TFLite of a SavedModel (``serving_default``: its outputs keep their names)."""
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_saved_model(export_dir).convert()


def _agreement(got, reference):
    """Top-1 agreement of ``got`` with ``reference`` (argmax over the last axis, per position):
    ``(on all positions, on the decisive ones, fraction decisive, largest reference margin
    where they differ or None)``.

    Decisive: the reference's top-1 margin (first minus second) is at least ``DECISIVE`` of the
    output's range; elsewhere the two classes are within the int8 model's rounding of each
    other and the pick between them says nothing about the conversion. A tie in the
    reference (two classes on the same fake-quantized step) counts as agreement.
    """
    agree, decisive, margins = [], [], []
    for p, q in zip(_flat(got), _flat(reference)):
        picked = np.take_along_axis(q, p.argmax(-1)[..., None], axis=-1)[..., 0]
        top2 = np.sort(q, axis=-1)[..., -2:]
        margin = top2[..., 1] - top2[..., 0]
        agree.append((picked >= top2[..., 1]).ravel())
        decisive.append((margin >= DECISIVE * max(float(q.max() - q.min()), 1e-12)).ravel())
        margins += list(margin.ravel()[~agree[-1]])
    agree, decisive = np.concatenate(agree), np.concatenate(decisive)
    return (float(agree.mean()), float(agree[decisive].mean()) if decisive.any() else 0.0,
            float(decisive.mean()), float(max(margins)) if margins else None)


def _score_agreement(got, reference):
    """Detection: the fraction of anchor x class scores ``σ(obj) · σ(cls)`` (the decoder's
    :func:`~keras_adastride.detection.decode.class_scores`, what NMS thresholds and ranks) of
    ``got`` within ``SCORE_TOLERANCE`` times the reference's score range (max - min over all
    maps and images) of the reference's: ``(fraction, largest difference / range, range)``.

    Not top-1 over the last axis: a raw YOLOX map mixes 4 box, 1 objectness and C class
    channels, and an untrained head's are near-ties at every anchor, so their argmax compares
    noise. Boxes are not compared."""
    import keras

    from keras_adastride.detection.decode import class_scores

    got, reference = ([keras.ops.convert_to_numpy(class_scores(p)).ravel() for p in _flat(o)]
                      for o in (got, reference))
    got, reference = np.concatenate(got), np.concatenate(reference)
    spread = max(float(reference.max() - reference.min()), 1e-12)
    diff = np.abs(got - reference) / spread
    return float(np.mean(diff <= SCORE_TOLERANCE)), float(diff.max()), spread


def _noise_floor(model, x, reference):
    """Top-1 agreement (decisive positions) of ``model`` with its own ``reference`` outputs when
    every input pixel moves by uniform noise of at most half a uint8 step (±0.5/255; seed 0).

    Below the input's own 8-bit resolution, so no int8 conversion can be expected to agree
    better: a QAT MobileNet (46% held-out accuracy) kept its top-1 on 75% of its decisive images
    (its int8 file agreed on 86%)."""
    noise = np.random.default_rng(0).uniform(-0.5 / 255, 0.5 / 255, x.shape).astype(x.dtype)
    return _agreement(model.predict(x + noise, verbose=0), reference)[1]


def _fit(model, x, targets, batch_size, loss):
    """One epoch of batches of ``batch_size``, Adam (Keras defaults)."""
    model.compile("adam", loss)
    model.fit(x, targets, batch_size=batch_size, verbose=0, shuffle=False)


def _calibrate_ranges(qat, x, passes=2):
    """Every activation range of the QAT model ``qat`` := the min / max its tensor takes on
    ``x`` (TFMOT's moving averages, from their start at ±6, would need thousands of steps);
    nothing else changes.

    TFMOT updates a range only in a training-mode call, by one EMA step ``r += (1 - d)(b - r)``
    (``quant_ops.MovingAvgQuantize``, ``d`` = :data:`TFMOT_EMA_DECAY`) towards the batch's
    ``b`` (its min / max, 0 included); one call gives ``b`` from that step. These ranges are
    the scalar ``*_min`` / ``*_max`` variables except the kernels' (their last value, no EMA)
    and the input ``quantize_layer``'s (the min / max of all values seen: set by the call).
    Each of ``passes`` calls sees the ranges the previous one set upstream."""
    names = [w.name.split(":")[0] for w in qat.non_trainable_weights]
    ranges = [w for w, name in zip(qat.non_trainable_weights, names)
              if w.shape == () and name.endswith(("_min", "_max")) and "kernel" not in name
              and not name.split("/")[-1].startswith("quantize_layer")]
    others = [w for w, name in zip(qat.non_trainable_weights, names)
              if name.endswith(("moving_mean", "moving_variance"))]
    kept = [w.numpy() for w in others]  # BatchNormalization statistics
    for _ in range(passes):
        before = [float(w.numpy()) for w in ranges]
        qat(x, training=True)
        for w, old in zip(ranges, before):
            w.assign(old + (float(w.numpy()) - old) / (1 - TFMOT_EMA_DECAY))
    for w, value in zip(others, kept):
        w.assign(value)


def _train(model, x, targets, validation, loss, recipe=Recipe()):
    """Adam (Keras defaults), batches of 32, epoch by epoch (BatchNormalization statistics
    settled after each): at least :data:`MIN_TRAIN_EPOCHS`, then while the accuracy on
    ``validation`` (x, targets) is under ``recipe.accuracy``, up to ``recipe.max_epochs``.
    Returns (epochs, last validation accuracy, training images)."""
    from keras_adastride.experiments.batch_norm import settle_batch_norms
    from keras_adastride.initializers import redraw_default_kernels

    if recipe.he_init:
        redraw_default_kernels(model, "he_normal")
    model.compile("adam", loss, metrics=["accuracy"])
    epochs, accuracy = 0, 0.0
    while epochs < MIN_TRAIN_EPOCHS or (accuracy < recipe.accuracy
                                        and epochs < recipe.max_epochs):
        model.fit(x, targets, batch_size=32, initial_epoch=epochs, epochs=epochs + 1, verbose=0,
                  shuffle=False)
        epochs += 1
        settle_batch_norms(model, x[:SETTLE_COUNT], batch_size=SETTLE_COUNT)
        accuracy = float(model.evaluate(*validation, verbose=0, return_dict=True)["accuracy"])
    return epochs, accuracy, len(x)


def _train_detector(model, x, targets, validation, recipe):
    """YOLOX: ``recipe.max_epochs`` epochs of its detection loss (``YOLOXDetector``, Adam,
    batches of 32; BatchNormalization settled after each). Returns (epochs, held-out loss,
    training canvases)."""
    import keras

    from keras_adastride.detection import YOLOXDetector
    from keras_adastride.experiments.batch_norm import settle_batch_norms

    detector = YOLOXDetector(model)
    detector.compile(keras.optimizers.Adam())
    for epoch in range(recipe.max_epochs):
        detector.fit(x, targets, batch_size=32, initial_epoch=epoch, epochs=epoch + 1,
                     verbose=0, shuffle=False)
        settle_batch_norms(model, x[:SETTLE_COUNT], batch_size=SETTLE_COUNT)
    loss = detector.evaluate(*validation, verbose=0, return_dict=True)["loss"]
    return recipe.max_epochs, float(loss), len(x)


def _loss(spec):
    return "sparse_categorical_crossentropy" if spec.task != "detect" else "mse"


def _self_targets(model, x):
    """The model's own outputs as targets (detection: no labels; keeps the fit well-defined)."""
    return model.predict(x, verbose=0)


class ModelRun:
    """Every in-process path of one builder x variant; the out-of-process ones are queued."""

    def __init__(self, spec, variant, work_dir, data=None, qat_batch=QAT_BATCH):
        self.spec, self.variant, self.work_dir = spec, variant, work_dir
        self.key = f"{spec.builder}_{variant}"
        self.data = data  # :func:`_data`'s; None for a run in a process of its own
        self.qat_batch = qat_batch  # of the QAT epoch
        self.training = None  # (epochs, validation accuracy) of the float training
        self.cells = {}
        self.pending = {}  # path -> job for the subprocess
        self.peak_rss = None  # bytes: the peak resident memory of the process that ran it
        self.seconds = None  # wall clock of its in-process paths

    @property
    def _result_file(self):
        return os.path.join(self.work_dir, f"{self.key}.json")

    def save(self):
        """Its cells and pending checks to ``<work_dir>/<key>.json`` (what :meth:`load` reads
        back)."""
        with open(self._result_file, "w") as handle:
            json.dump(dict(cells={p: [c.ok, c.detail] for p, c in self.cells.items()},
                           pending=self.pending, training=self.training,
                           peak_rss=self.peak_rss, seconds=self.seconds), handle)

    def load(self):
        """The cells of an earlier run in the same ``work_dir``; False if there is none."""
        if not os.path.exists(self._result_file):
            return False
        with open(self._result_file) as handle:
            saved = json.load(handle)
        self.cells = {path: Cell(*cell) for path, cell in saved["cells"].items()}
        self.pending = saved["pending"]
        self.training, self.peak_rss = saved["training"], saved["peak_rss"]
        self.seconds = saved["seconds"]
        return True

    def run(self, paths=PATHS, progress=None):
        import keras

        start = time.time()
        self.x_train, self.y_train, self.x_eval, x_val, y_val = self.data
        keras.utils.set_random_seed(0)
        model = self.spec.build(self.variant)
        targets = _targets(self.spec, self.x_train, self.y_train)
        if self.spec.task == "detect":
            self.training = _train_detector(model, self.x_train, self.y_train, (x_val, y_val),
                                            self.spec.recipe)
        else:
            self.training = _train(model, self.x_train, targets,
                                   (x_val, _targets(self.spec, x_val, y_val)), _loss(self.spec),
                                   self.spec.recipe)
        self.model = model
        for path in paths:
            if progress:
                progress(f"{self.key} {path}")
            try:
                getattr(self, f"_{path}")()
            except Exception as err:  # noqa: BLE001 — the matrix records every failure
                self.cells[path] = Cell(False, _error(err))
        self.seconds = time.time() - start
        return self

    def run_isolated(self, paths=PATHS, eval_count=256, train_count=1024, progress=None,
                     max_rss=None):
        """:meth:`run` in a process of its own (``--cell``), stopped if its resident memory
        passes ``max_rss`` bytes; the cells it did not finish hold why."""
        if SPECS_BY_NAME.get(self.spec.builder) is not self.spec:
            raise ValueError(f"run_isolated: spec {self.spec.builder!r} is not one of SPECS "
                             "(the subprocess finds its spec by name).")
        command = [sys.executable, "-m", "keras_adastride.tfmot.matrix", "--cell", self.spec.builder, self.variant,
                   "--work-dir", self.work_dir, "--paths", *paths,
                   "--eval-count", str(eval_count), "--train-count", str(train_count)]
        state, running = {}, None
        with open(os.path.join(self.work_dir, f"{self.key}.log"), "w") as log:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
            watch = _MemoryWatch(process, max_rss)
            for line in process.stdout:
                tag, _, body = line.partition(" ")
                if tag == "STATE":
                    state = json.loads(body)
                elif tag == "PROGRESS":
                    running = body.split()[-1]
                    if progress:
                        progress(body.strip())
            process.wait()
            watch.join()
        self.cells = {path: Cell(*cell) for path, cell in state.get("cells", {}).items()}
        self.pending = state.get("pending", {})
        self.training, self.seconds = state.get("training"), state.get("seconds")
        self.peak_rss = max(state.get("peak_rss", 0), watch.peak)
        if watch.stopped_at:
            reason = (f"process stopped: resident memory {watch.stopped_at / 2**30:.1f} GB > "
                      f"{max_rss / 2**30:g} GB")
        elif process.returncode:
            with open(log.name) as handle:
                lines = [line.strip() for line in handle if line.strip()]
            reason = (f"process exited with status {process.returncode}: "
                      f"{(lines or ['no output'])[-1][:300]}")
        else:
            reason = "not run"
        for path in paths:
            if path not in self.cells and path not in self.pending:
                where = "" if running in (None, path) else f" (during {running})"
                self.cells[path] = Cell(False, reason + where)
        return self

    # -- paths -----------------------------------------------------------------------------
    def _reference(self):
        x = self.x_eval[:8]
        outputs = self.model.predict(x, verbose=0)
        return x, dict(zip(self.model.output_names, _flat(outputs)))

    def _keras(self):
        path = os.path.join(self.work_dir, f"{self.key}.keras")
        self.model.save(path)
        x, reference = self._reference()
        np.savez(os.path.join(self.work_dir, f"{self.key}_keras.npz"), x=x, **reference)
        self.pending["keras"] = dict(file=path, samples=f"{self.key}_keras.npz")

    def _export(self):
        """The TF Serving SavedModel (the savedmodel and tflite paths share it). An export of
        this row already in ``work_dir`` is a killed run's (a finished row is resumed, not run):
        it is replaced (``export_model`` never overwrites a version)."""
        if getattr(self, "export_dir", None) is None:
            from keras_adastride.serving import export_model

            base = os.path.join(self.work_dir, "serving")
            shutil.rmtree(os.path.join(base, self.key), ignore_errors=True)
            self.export_dir = export_model(self.model, base, self.key, 1)
        return self.export_dir

    def _savedmodel(self):
        export_dir = self._export()
        x, reference = self._reference()
        np.savez(os.path.join(self.work_dir, f"{self.key}_serving.npz"), x=x, **reference)
        self.pending["savedmodel"] = dict(dir=export_dir, samples=f"{self.key}_serving.npz")

    def _tflite(self):
        from keras_adastride.tfmot.tflite import tflite_outputs

        x = self.x_eval[:32]
        expected = self.model.predict(x, verbose=0)
        got = tflite_outputs(float_tflite(self._export()), x)
        diff = _max_diff(got, expected) / _scale(expected)
        if diff <= 1e-5:
            self.cells["tflite"] = Cell(True, f"max diff {diff:.1e}")
            return
        # Two float32 evaluations, each off the exact result by its own rounding: the float64
        # evaluation of the same net decides whether TFLite's is the one that is off.
        exact = self._float64().predict(x.astype("float64"), verbose=0)
        off, keras_off = (_max_diff(o, exact) / _scale(exact) for o in (got, expected))
        ok = off <= 1e-5
        self.cells["tflite"] = Cell(
            ok, f"max diff {diff:.1e} from Keras; from float64: TFLite {off:.1e}"
            + ("" if ok else " > 1e-5") + f", Keras {keras_off:.1e}")

    def _float64(self):
        """The model built again in float64 (``keras.config.set_dtype_policy``), its weights."""
        import keras

        policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy("float64")
        try:
            model = self.spec.build(self.variant)
        finally:
            keras.config.set_dtype_policy(policy)
        model.set_weights([np.asarray(w, "float64") for w in self.model.get_weights()])
        return model

    def _twin(self):
        """A new tf_keras twin of the trained model, checked against it. New for each path:
        TFMOT's ``prune_low_magnitude`` wraps the given model's own layers (its clone shares
        their weights), so pruning a shared twin left the QAT path a 50%-pruned net."""
        from keras_adastride.tfmot.bridge import to_tf_keras

        twin = to_tf_keras(self.model)
        x = self.x_eval[:8]
        reference = self.model.predict(x, verbose=0)
        diff = _max_diff(twin.predict(x, verbose=0), reference)
        if diff > 1e-5 * _scale(reference):
            raise AssertionError(f"to_tf_keras: outputs differ by {diff:.1e}")
        return twin

    def _train_targets(self, model):
        targets = _targets(self.spec, self.x_train, self.y_train)
        return _self_targets(model, self.x_train) if targets is None else targets

    def _pruning(self):
        import keras
        import tensorflow_model_optimization as tfmot

        from keras_adastride.tfmot.bridge import to_keras3

        sparsity = tfmot.sparsity.keras
        twin = self._twin()
        pruned = sparsity.prune_low_magnitude(
            twin, pruning_schedule=sparsity.ConstantSparsity(SPARSITY, 0, frequency=1))
        pruned.compile("adam", _loss(self.spec))
        targets = self._train_targets(twin)
        # Four steps: the constant schedule prunes from the first one.
        targets = keras.tree.map_structure(lambda t: t[:128], targets)
        pruned.fit(self.x_train[:128], targets, batch_size=32, epochs=1,
                   verbose=0, shuffle=False, callbacks=[sparsity.UpdatePruningStep()])
        stripped = sparsity.strip_pruning(pruned)
        # The pruned kernels: (layer name, index among the layer's weights), the same in both
        # generations (the bridge keeps names and weight order).
        pruned_kernels = [
            (wrapper.layer.name, [id(v) for v in wrapper.layer.weights].index(id(weight)))
            for wrapper in pruned.layers if hasattr(wrapper, "pruning_vars")
            for weight, _, _ in wrapper.pruning_vars
        ]
        back = to_keras3(stripped)
        path = os.path.join(self.work_dir, f"{self.key}_pruned.keras")
        back.save(path)
        saved = keras.models.load_model(path)
        values = [float(np.mean(saved.get_layer(name).get_weights()[index] == 0))
                  for name, index in pruned_kernels]
        if not values:
            raise AssertionError("no prunable kernel")
        x = self.x_eval[:8]
        diff = _max_diff(back.predict(x, verbose=0), stripped.predict(x, verbose=0))
        ok = all(abs(v - SPARSITY) <= 0.01 for v in values) and diff <= 1e-5
        self.cells["pruning"] = Cell(
            ok, f"{len(values)} kernels {min(values):.1%}-{max(values):.1%} zeros"
            + ("" if diff <= 1e-5 else f"; Keras 3 twin differs by {diff:.1e}"))

    def _qat_int8(self):
        import tensorflow_model_optimization as tfmot

        from keras_adastride import tfmot as kat
        from keras_adastride.tfmot.tflite import tflite_op_types, tflite_outputs, to_tflite

        twin, scheme = self._twin(), {}
        if FOLD_BATCH_NORMS:
            twin, scheme = kat.fold_batch_norms(twin), dict(scheme=kat.FoldedQuantizeScheme())
        with kat.quantize_scope():
            qat = tfmot.quantization.keras.quantize_apply(kat.quantize_annotate_model(twin),
                                                          **scheme)
        targets = self._train_targets(twin)
        _calibrate_ranges(qat, self.x_train[:SETTLE_COUNT])
        _fit(qat, self.x_train, targets, self.qat_batch, _loss(self.spec))
        int8 = to_tflite(qat, quantize=True)
        float_ops = sorted({name for name, dtype in tflite_op_types(int8)
                            if dtype == "float32" and name != "QUANTIZE"})
        reference = qat.predict(self.x_eval, verbose=0)
        got = tflite_outputs(int8, self.x_eval)
        float_ops = f"; float ops: {', '.join(float_ops) or 'none'}"
        if self.spec.task == "detect":
            fraction, worst, spread = _score_agreement(got, reference)
            ok = fraction >= AGREEMENT
            self.cells["qat_int8"] = Cell(
                ok, f"scores σ(obj)·σ(cls) {fraction:.1%} within {SCORE_TOLERANCE:.0%} of their "
                + f"range {spread:.2g}" + ("" if ok else f" < {AGREEMENT:.0%}")
                + f" (largest difference {worst:.1%} of it)" + float_ops)
            return
        overall, agreement, decisive, margin = _agreement(got, reference)
        detail = (f"top-1 {agreement:.1%} of the {decisive:.0%} decisive, {overall:.1%} of all"
                  + ("" if margin is None else f" (differing at margins <= {margin:.2g})"))
        if agreement < AGREEMENT and decisive >= MIN_DECISIVE:
            x_wide, _ = _images(self.spec.input_shape, WIDER_COUNT, split="train")
            _, agreement, decisive, _ = _agreement(
                *([np.concatenate(pair) for pair in zip(_flat(a), _flat(b))]
                  for a, b in ((got, tflite_outputs(int8, x_wide)),
                               (reference, qat.predict(x_wide, verbose=0)))))
            detail += (f"; with {WIDER_COUNT} train-split images, top-1 {agreement:.1%} of the "
                       f"{decisive:.0%} decisive of all {len(self.x_eval) + WIDER_COUNT}")
        ok = agreement >= AGREEMENT and decisive >= MIN_DECISIVE
        problem = "" if ok else (f" < {AGREEMENT:.0%}" if decisive >= MIN_DECISIVE
                                 else f"; decisive < {MIN_DECISIVE:.0%}")
        floor = "" if ok else f"; {_noise_floor(qat, self.x_eval, reference):.1%} under input noise"
        self.cells["qat_int8"] = Cell(ok, detail + problem + floor + float_ops)


def _peak_rss():
    """Peak resident memory of this process so far, in bytes (Linux: ``ru_maxrss`` in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _rss(pid):
    """Resident memory of process ``pid`` now, in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class _MemoryWatch(threading.Thread):
    """Samples a subprocess's resident memory twice a second; kills it past ``limit`` bytes."""

    def __init__(self, process, limit=None):
        super().__init__(daemon=True)
        self.process, self.limit = process, limit
        self.peak, self.stopped_at = 0, None
        self.start()

    def run(self):
        while self.process.poll() is None:
            rss = _rss(self.process.pid)
            self.peak = max(self.peak, rss)
            if self.limit and rss > self.limit:
                self.stopped_at = rss
                self.process.kill()
                return
            time.sleep(0.5)


def _run_cell(builder, variant, work_dir, paths, eval_count, train_count):
    """The ``--cell`` subprocess: one builder x variant; its state on stdout after each path
    (``STATE {json}``, then ``PROGRESS <key> <path>``), so a stopped process leaves its cells."""
    import tensorflow_model_optimization  # noqa: F401  (tf.keras is tf_keras from here on)

    spec = SPECS_BY_NAME[builder]
    run = ModelRun(spec, variant, work_dir, _data(spec, eval_count, train_count))

    def report(label=None):
        state = dict(cells={path: [c.ok, c.detail] for path, c in run.cells.items()},
                     pending=run.pending, training=run.training, seconds=run.seconds,
                     peak_rss=_peak_rss())
        print("STATE " + json.dumps(state), flush=True)
        if label:
            print("PROGRESS " + label, flush=True)

    run.run(paths, progress=report)
    report()


_CHECK_SCRIPT = r"""
import json, sys
import numpy as np
jobs = json.loads(sys.argv[1])
results = {}
sys.modules["keras_adastride"] = None  # any import of it now raises ImportError
import tensorflow as tf
def diff(got, samples):
    return max(float(np.max(np.abs(np.asarray(got[k]) - samples[k]))) for k in got)
for key, job in jobs.items():
    if "savedmodel" not in job:
        continue
    try:
        samples = dict(np.load(job["savedmodel"]["samples"]))
        fn = tf.saved_model.load(job["savedmodel"]["dir"]).signatures["serving_default"]
        (name,) = fn.structured_input_signature[1]
        got = {k: v.numpy() for k, v in fn(**{name: tf.constant(samples.pop("x"))}).items()}
        if set(got) != set(samples):
            raise AssertionError(f"outputs {sorted(got)}, expected {sorted(samples)}")
        results[key + "/savedmodel"] = [True, diff(got, samples)]
    except Exception as err:
        results[key + "/savedmodel"] = [False, f"{type(err).__name__}: {err}"[:400]]
assert not [m for m in sys.modules if m and m.startswith("keras_adastride") and sys.modules[m]]
del sys.modules["keras_adastride"]
import keras, keras_adastride
for key, job in jobs.items():
    if "keras" not in job:
        continue
    try:
        samples = dict(np.load(job["keras"]["samples"]))
        model = keras.models.load_model(job["keras"]["file"])
        out = model.predict(samples.pop("x"), verbose=0)
        got = dict(zip(model.output_names, keras.tree.flatten(out)))
        results[key + "/keras"] = [True, diff(got, samples)]
    except Exception as err:
        results[key + "/keras"] = [False, f"{type(err).__name__}: {err}"[:400]]
print("RESULTS" + json.dumps(results))
"""


def check_out_of_process(runs, work_dir):
    """Run the queued .keras / SavedModel checks of ``runs`` in one fresh subprocess."""
    jobs = {run.key: run.pending for run in runs if run.pending}
    if not jobs:
        return
    result = subprocess.run([sys.executable, "-c", _CHECK_SCRIPT, json.dumps(jobs)],
                            cwd=work_dir, capture_output=True, text=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULTS")]
    if result.returncode or not lines:
        message = (result.stderr.strip().splitlines() or ["no output"])[-1][:400]
        found = {}
    else:
        message, found = None, json.loads(lines[-1][len("RESULTS"):])
    for run in runs:
        for path in run.pending:
            ok, value = found.get(f"{run.key}/{path}", [False, f"check process: {message}"])
            if ok:
                ok = value <= 1e-5
                value = f"max diff {value:.1e}" + ("" if ok else " > 1e-5")
            run.cells[path] = Cell(ok, value)


def _data(spec, eval_count, train_count):
    """(x_train, y_train, x_eval, x_val, y_val): ``train_count`` test images (or the spec's
    ``recipe.images``), then ``eval_count`` others (the paths' inputs), then
    :data:`VALIDATION_COUNT` (the training's); detection: :func:`_canvases`."""
    train_count = spec.recipe.images or train_count
    if spec.task == "detect":
        return _canvases(spec, eval_count, train_count)
    x_train, y_train = _images(spec.input_shape, train_count)
    x_eval, _ = _images(spec.input_shape, eval_count, offset=train_count)
    x_val, y_val = _images(spec.input_shape, VALIDATION_COUNT, offset=train_count + eval_count)
    return x_train, y_train, x_eval, x_val, y_val


def _canvases(spec, eval_count, train_count):
    """:func:`_data` for YOLOX: canvases of 1 to 3 Fashion-MNIST test items of the first
    ``num_classes`` classes (``composite_detection_set``; targets ``{"boxes", "classes"}``),
    training, evaluation and validation canvases drawn from disjoint thirds of the items."""
    from keras_adastride.data import load_fashion_mnist
    from keras_adastride.detection import composite_detection_set

    classes = spec.kwargs["num_classes"]
    _, (x, y) = load_fashion_mnist()
    x, y = x[y < classes], y[y < classes]
    parts = np.array_split(np.arange(len(y)), 3)
    sets = [composite_detection_set(x[part], y[part], count, canvas_size=spec.input_shape[0],
                                    num_classes=classes, objects_per_canvas=(1, 3), seed=seed,
                                    max_boxes=3)
            for seed, (part, count) in enumerate(zip(parts, (train_count, eval_count,
                                                             VALIDATION_COUNT)))]
    (x_train, y_train), (x_eval, _), (x_val, y_val) = sets
    return x_train, y_train, x_eval, x_val, y_val


def run_matrix(specs=SPECS, paths=PATHS, work_dir=None, variants=None, eval_count=256,
               train_count=1024, progress=None, on_builder_done=None, isolate=False,
               max_rss=None, resume=False, run_missing=True):
    """Run the matrix; returns ``[ModelRun]`` whose ``cells`` map path -> :class:`Cell`.

    ``variants``: optional ``{builder: (variant, ...)}`` restricting the variants of some
    builders (the tests' subset). ``on_builder_done(runs)`` is called after each builder (the
    script rewrites its table there, so a long run leaves its results as it goes).
    ``isolate``: each builder x variant in a process of its own (specs of :data:`SPECS` only),
    stopped past ``max_rss`` bytes of resident memory; else all in this process. Each
    finished row is saved in ``work_dir``; ``resume`` takes the rows found there instead of
    running them again (so builders run in separate invocations make one table);
    ``run_missing=False`` (with ``resume``) only reads them, leaving out the rows not found.
    """
    import gc

    import keras
    import tf_keras

    work_dir = os.path.abspath(work_dir or tempfile.mkdtemp(prefix="deployment_matrix_"))
    os.makedirs(work_dir, exist_ok=True)
    runs = []
    for spec in specs:
        data = None if isolate or not run_missing else _data(spec, eval_count, train_count)
        for variant in (variants or {}).get(spec.builder, spec.variants):
            run = ModelRun(spec, variant, work_dir, data)
            if resume and run.load():
                runs.append(run)
                continue
            if not run_missing:
                continue
            runs.append(run)
            if isolate:
                run.run_isolated(paths, eval_count, train_count, progress, max_rss)
            else:
                run.run(paths, progress)
                run.model = None
                keras.backend.clear_session()
                tf_keras.backend.clear_session()
                gc.collect()
                run.peak_rss = _peak_rss()
            run.save()
        if progress:
            progress(f"{spec.builder}: out-of-process checks (.keras, SavedModel)")
        checked = [run for run in runs if run.spec is spec and run.pending]
        check_out_of_process(checked, work_dir)
        for run in checked:
            run.pending = {}
            run.save()
        if on_builder_done:
            on_builder_done(runs)
    return runs


HEADER = """# Deployment matrix: every builder x variant x path

Generated by `python -m keras_adastride.tfmot.matrix --write docs/DEPLOYMENT_MATRIX.md` (rows of
several runs: `--work-dir DIR --resume`, `--table-only`; docs/TFMOT.md); do not edit by hand.
Each builder at its smallest trainable size (the `input` column; `alpha` 0.25 for
the VGG / ResNet widths, 0.25 for MobileNet, `base_filters=4` for U-Net, YOLOX `depth=0.33,
width=0.125`: `SPECS` in `keras_adastride/tfmot/matrix.py`), trained on {train} real
Fashion-MNIST images resized to it (segmentation: the garment's pixels as the mask) for at least
{min_epochs} epochs and then until its accuracy on {val} held-out images reaches {accuracy:.0%},
at most {max_epochs} (the `training` column: epochs, held-out accuracy).
{longer} (`on N`: N training images; {he_init}'s built-in conv / dense kernels drawn He-normal
first; `Recipe` in matrix.py, docs/TFMOT.md). YOLOX is trained with its detection loss (`YOLOXDetector`) on canvases
of 1-3 Fashion-MNIST items of 2 classes for {detect_epochs} epochs (its evaluation images are
such canvases too); its own outputs are its pruning and QAT targets. Each row runs in a process of its own (`peak memory`: that process's
peak resident memory; one is stopped past 5 GB).
Paths:

- **keras**: `.keras` saved, loaded in a fresh process, outputs compared (max abs diff <= 1e-5).
- **savedmodel**: `keras_adastride.serving.export_model` (it refuses XLA attributes), loaded and
  run in a process where `keras_adastride` cannot be imported (max abs diff <= 1e-5).
- **tflite**: float TFLite of that SavedModel (max abs diff / max(1, max |output|) <= 1e-5); where
  it differs more from Keras, the same net evaluated in float64 decides: TFLite's outputs within
  1e-5 of it (both float32 evaluations' distances given; docs/TFMOT.md).
- **pruning**: `kat.to_tf_keras`, TFMOT magnitude pruning to 50% (constant schedule), strip,
  `kat.to_keras3`, saved as `.keras`; zeros of every pruned kernel counted on the weights loaded
  back from that file (each within 1 point of 50%).
- **qat_int8**: `kat.to_tf_keras`, `kat.fold_batch_norms` (each BatchNormalization after a
  Conv2D / DepthwiseConv2D folded into it),
  `kat.quantize_annotate_model` + `quantize_apply` (`scheme=kat.FoldedQuantizeScheme()`),
  activation ranges calibrated on 512 training images, one QAT epoch over the training images
  at batch {qat_batch} (16 steps on 1,024 images, 144 on 9,216), int8 TFLite
  from the QAT ranges; top-1 (argmax over the last axis, per position for segmentation maps)
  agreement with the QAT Keras model on {eval} other real images:
  on the *decisive* positions (the QAT model's top-1 margin >= 5% of its output's range; they
  must be at least half) >= 99% (below it on those, {wider} more images, from Fashion-MNIST's
  training split, which no row trains on, are run too and all of them decide: a few hundred
  cannot tell 98.8% from 99.5%), and on all (a tie in the QAT output counts as agreement);
  where they differ, the largest top-1 margin of the QAT model there (how near a tie); where
  below 99%, the QAT model's agreement with itself under input noise of ±0.5/255 (half a uint8
  step: the net's own floor, docs/TFMOT.md); the ops left in float (besides the input
  QUANTIZE). A BatchNormalization after CAS or after a `SpaceToDepth` (ResNet's SPD blocks)
  stays a float MUL + ADD; after SPD-Conv it folds into the int8 conv (docs/TFMOT.md). YOLOX (detection): instead of top-1, its scores
  σ(obj)·σ(cls) per anchor and class (what NMS ranks; `detection.decode.class_scores`) must be
  within 5% of the QAT scores' range (max - min) on >= 99% of them (boxes not compared).
"""


def _training(run, train_count):
    if run.training is None:
        return "untrained"
    epochs, value, images = run.training
    if run.spec.task == "detect":
        return f"{epochs} epochs on {images} canvases, held-out loss {value:.2f}"
    count = "" if images == train_count else f" on {images}"
    return f"{epochs} epochs{count}, {value:.0%}"


def markdown(runs, eval_count=256, train_count=1024):
    recipes = {}  # the classifiers' recipes other than the default -> their builders
    for spec in SPECS:
        if spec.task != "detect" and spec.recipe.images:
            recipe = (spec.recipe.images, spec.recipe.accuracy, spec.recipe.max_epochs)
            recipes.setdefault(recipe, []).append(spec.builder)
    longer = "; ".join(f"{', '.join(builders)}: {images} images, until {accuracy:.0%}, at most "
                       f"{epochs} epochs" for (images, accuracy, epochs), builders in
                       recipes.items())
    lines = [HEADER.format(eval=eval_count, train=train_count, min_epochs=MIN_TRAIN_EPOCHS,
                           max_epochs=MAX_TRAIN_EPOCHS, val=VALIDATION_COUNT,
                           accuracy=TRAIN_ACCURACY, longer=longer, qat_batch=QAT_BATCH,
                           wider=WIDER_COUNT,
                           he_init=", ".join(s.builder for s in SPECS if s.recipe.he_init),
                           detect_epochs=SPECS_BY_NAME["yolox"].recipe.max_epochs)]
    cells = [cell for run in runs for cell in run.cells.values()]
    summary = f"{sum(c.ok for c in cells)} of {len(cells)} cells ok"
    timed = [run for run in runs if run.seconds]
    if timed:
        rows = "" if len(timed) == len(runs) else f" for the {len(timed)} rows timed"
        summary += (f" ({sum(run.seconds for run in timed) / 60:.0f} minutes of row processes"
                    f"{rows} on a shared 2-core CPU, besides the out-of-process checks)")
        if len(timed) < len(runs):
            summary += ("; the rows without a time were stopped or carried over from an "
                        "earlier table (docs/TFMOT.md)")
    lines += [summary + ".", "",
              "| model | input | variant | training | " + " | ".join(PATHS) + " | peak memory |",
              "| --- | --- | --- | --- |" + " --- |" * len(PATHS) + " --- |"]
    for run in runs:
        shape = "x".join(str(s) for s in run.spec.input_shape)
        row = [run.spec.builder, shape, run.variant, _training(run, train_count)]
        row += [run.cells[p].markdown() if p in run.cells else "" for p in PATHS]
        row.append(f"{run.peak_rss / 2**30:.1f} GB" if run.peak_rss else "")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def carry_over(table, work_dir, train_count=1024):
    """Row files in ``work_dir`` rebuilt from the rows of ``table`` (a markdown table this
    module wrote) that have none there, so that ``--resume --table-only`` renders them again
    unchanged (without a time: carried over). Returns their keys."""
    import re

    carried = []
    for line in table.splitlines():
        parts = [p.strip().replace("\\|", "|") for p in re.split(r"(?<!\\)\|", line)[1:-1]]
        if len(parts) != 5 + len(PATHS) or parts[0] not in SPECS_BY_NAME:
            continue
        run = ModelRun(SPECS_BY_NAME[parts[0]], parts[2], work_dir)
        if os.path.exists(run._result_file):
            continue
        training = re.match(r"(\d+) epochs(?: on (\d+))?(?: canvases)?, (?:held-out loss )?"
                            r"([\d.]+)(%?)", parts[3])
        if training:
            epochs, images, value, percent = training.groups()
            run.training = (int(epochs), float(value) / (100 if percent else 1),
                            int(images or train_count))
        for path, cell in zip(PATHS, parts[4:-1]):
            ok, _, detail = cell.partition(": ")
            run.cells[path] = Cell(ok == "ok", detail)
        run.peak_rss = float(parts[-1].split()[0]) * 2**30 if parts[-1] else None
        run.save()
        carried.append(run.key)
    return carried


def main(argv=None):
    from keras_adastride.models.__main__ import _progress_bar

    parser = argparse.ArgumentParser(prog="python -m keras_adastride.tfmot.matrix",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", metavar="PATH", help="also write the table to PATH")
    parser.add_argument("--models", nargs="+", metavar="NAME", help="only these builders")
    parser.add_argument("--variants", nargs="+", metavar="VARIANT",
                        help="only these variants of each builder")
    parser.add_argument("--work-dir", help="where the files go (default: a temporary folder)")
    parser.add_argument("--max-rss-gb", type=float, default=5.0,
                        help="stop a builder x variant process past this resident memory")
    parser.add_argument("--resume", action="store_true",
                        help="take the rows already finished in --work-dir from there")
    parser.add_argument("--table-only", action="store_true",
                        help="with --resume: write the table of the rows found, run nothing")
    parser.add_argument("--carry-over", metavar="TABLE",
                        help="rows of this earlier table that --work-dir lacks: rebuilt from it")
    parser.add_argument("--in-process", action="store_true",
                        help="run every builder x variant in this process (memory grows)")
    # The --cell subprocess of run_isolated.
    parser.add_argument("--cell", nargs=2, metavar=("BUILDER", "VARIANT"), help=argparse.SUPPRESS)
    parser.add_argument("--paths", nargs="+", default=PATHS, help=argparse.SUPPRESS)
    parser.add_argument("--eval-count", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--train-count", type=int, default=1024, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cell:
        _run_cell(*args.cell, args.work_dir, tuple(args.paths), args.eval_count,
                  args.train_count)
        return 0
    if args.in_process:
        import tensorflow_model_optimization  # noqa: F401  (tf.keras is tf_keras from here on)
    specs = SPECS
    if args.models:
        unknown = set(args.models) - {s.builder for s in SPECS}
        if unknown:
            parser.error(f"unknown model(s) {sorted(unknown)}; choose from "
                         f"{sorted(s.builder for s in SPECS)}")
        specs = tuple(s for s in SPECS if s.builder in args.models)
    variants = {s.builder: tuple(v for v in s.variants if v in (args.variants or s.variants))
                for s in specs}
    total = sum(len(variants[s.builder]) * len(PATHS) + 1 for s in specs)
    if args.resume and not args.work_dir:
        parser.error("--resume needs --work-dir (where the earlier rows are)")
    if args.table_only and not args.resume:
        parser.error("--table-only needs --resume (it reads the rows of --work-dir)")
    if args.carry_over:
        if not args.work_dir:
            parser.error("--carry-over needs --work-dir (where the rows are written)")
        os.makedirs(args.work_dir, exist_ok=True)
        with open(args.carry_over) as handle:
            carry_over(handle.read(), args.work_dir)

    def write(runs, final=False):
        if not args.write:
            return
        text = markdown(runs)
        done = {run.spec.builder for run in runs}
        missing = [s.builder for s in specs if s.builder not in done]
        if missing:
            text += (f"\nRun in progress; not yet run: {', '.join(missing)}.\n" if not final else
                     f"\nNo rows yet (not run with this code): {', '.join(missing)}.\n")
        with open(args.write, "w") as handle:
            handle.write(text)

    with _progress_bar(total, desc="matrix") as progress:
        runs = run_matrix(specs, work_dir=args.work_dir, variants=variants, progress=progress,
                          on_builder_done=write, isolate=not args.in_process,
                          max_rss=args.max_rss_gb * 2**30, resume=args.resume,
                          run_missing=not args.table_only)
    write(runs, final=True)
    print(markdown(runs), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
