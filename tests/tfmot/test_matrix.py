"""The deployment matrix in CI: every layer kind of ours through every path, on one tiny model.

The full matrix (every builder x variant) is ``python -m keras_adastride.tfmot.matrix``; its
table is docs/DEPLOYMENT_MATRIX.md (a few hours on a shared 2-core CPU, so not a test).
"""

import keras
import numpy as np
import pytest

from keras_adastride.layers import CAS, PAS, SpaceToDepth, SpaceToDepthConv, SpatialPyramidPooling
from keras_adastride.tfmot import matrix


def every_kind(downsampling, input_shape, num_classes):
    """CAS -> BatchNormalization -> ReLU, PAS, SpatialPyramidPooling (YOLOX's), SpaceToDepthConv
    -> BatchNormalization (the builders' sites, BN folded or not), SpaceToDepth, a classifier."""
    inputs = keras.Input(input_shape)
    x = CAS(16, 3, strides=2, padding="same", use_bias=False, name="cas")(inputs)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="cas_bn")(x))
    x = PAS(2, padding="same", name="pas")(x)
    x = SpatialPyramidPooling((3,), name="spp")(x)
    x = SpaceToDepthConv(32, 3, padding="same", pad_to_multiple=True, name="spd_conv")(x)
    x = keras.layers.ReLU()(keras.layers.BatchNormalization(name="spd_conv_bn")(x))
    x = SpaceToDepth(2, name="spd")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name=f"every_kind_{downsampling}")


SPEC = matrix.Spec("every_kind", dict(input_shape=(16, 16, 1), num_classes=10), ("mixed",),
                   make=every_kind)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return matrix.run_matrix([SPEC], work_dir=str(tmp_path_factory.mktemp("matrix")),
                             eval_count=256, train_count=1024)


def test_every_layer_kind_is_in_the_model(runs):
    kinds = {type(layer) for layer in SPEC.build("mixed").layers}
    assert {CAS, PAS, SpaceToDepth, SpaceToDepthConv, SpatialPyramidPooling} <= kinds


@pytest.mark.parametrize("path", matrix.PATHS)
def test_every_path_works(runs, path):
    (run,) = runs
    assert run.cells[path].ok, run.cells[path].detail


def test_table_names_each_cell(runs):
    text = matrix.markdown(runs)
    row = [line for line in text.splitlines() if line.startswith("| every_kind |")]
    assert len(row) == 1 and row[0].count("| ok: ") == len(matrix.PATHS)
    assert "top-1" in row[0] and "kernels 50.0%-50.0% zeros" in row[0]


def test_agreement_counts_decisive_positions_and_ties():
    # Rows: decisive and agreeing; decisive and differing; a near-tie that differs (margin
    # 0.02 < 5% of the range 0.9); an exact tie (either pick agrees).
    reference = np.array([[0.9, 0.1, 0.0], [0.0, 0.3, 0.7], [0.49, 0.51, 0.0], [0.5, 0.5, 0.0]])
    got = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    overall, decisive_agreement, decisive, margin = matrix._agreement(got, reference)
    assert (overall, decisive_agreement, decisive) == (0.5, 0.5, 0.5)
    assert margin == pytest.approx(0.4)  # the largest margin where they differ: row 2


def test_rows_run_in_their_own_process_and_resume(tmp_path):
    # The script's mode: a SPECS builder in a subprocess (one cheap path), its row saved.
    spec = matrix.SPECS_BY_NAME["dilated_vgg"]
    work = str(tmp_path)
    (run,) = matrix.run_matrix([spec], paths=("tflite",), work_dir=work,
                               variants={"dilated_vgg": ("cas",)}, isolate=True,
                               max_rss=5 * 2**30)
    assert run.cells["tflite"].ok, run.cells["tflite"].detail
    epochs, accuracy, images = run.training
    assert matrix.MIN_TRAIN_EPOCHS <= epochs <= matrix.MAX_TRAIN_EPOCHS and 0 <= accuracy <= 1
    assert images == 1024  # run_matrix's train_count: dilated_vgg keeps the default recipe
    assert 2**27 < run.peak_rss < 5 * 2**30  # the subprocess's, not this process's
    (again,) = matrix.run_matrix([spec], paths=("tflite",), work_dir=work,
                                 variants={"dilated_vgg": ("cas",)}, isolate=True, resume=True)
    # Read back from the work folder, not run again.
    assert again.cells == run.cells and list(again.training) == list(run.training)
    assert again.seconds == run.seconds
    # Only reading: a builder without saved rows is left out, nothing runs.
    small_vgg = matrix.SPECS_BY_NAME["small_vgg"]
    (read,) = matrix.run_matrix([spec, small_vgg], paths=("tflite",), work_dir=work,
                                variants={"dilated_vgg": ("cas",)}, resume=True,
                                run_missing=False)
    assert read.spec is spec and read.cells == run.cells


def test_a_process_past_the_memory_limit_is_stopped(tmp_path):
    spec = matrix.SPECS_BY_NAME["dilated_vgg"]
    run = matrix.ModelRun(spec, "cas", str(tmp_path))
    run.run_isolated(paths=("tflite", "qat_int8"), max_rss=50 * 2**20)  # stopped at import
    for path in ("tflite", "qat_int8"):
        assert not run.cells[path].ok
        assert "process stopped: resident memory" in run.cells[path].detail
        assert run.cells[path].detail.endswith("GB > 0.0488281 GB")


def test_a_killed_runs_export_is_replaced(tmp_path):
    # A killed row process leaves serving/<key>/1; the row's next run must replace it.
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs))
    run = matrix.ModelRun(SPEC, "mixed", str(tmp_path))
    leftover = tmp_path / "serving" / run.key / "1"
    leftover.mkdir(parents=True)
    (leftover / "partial").write_text("from a killed run")
    run.model = model
    export_dir = run._export()
    assert export_dir == str(leftover)
    assert not (leftover / "partial").exists() and (leftover / "saved_model.pb").exists()


def test_float64_evaluation_of_a_row(rng):
    # The tflite cell's arbiter: the same net and weights, every variable and output float64.
    run = matrix.ModelRun(SPEC, "mixed", "unused")
    run.model = SPEC.build("mixed")
    x = rng.uniform(size=(4, 16, 16, 1)).astype("float32")
    exact = run._float64()
    assert {w.dtype for w in exact.weights} == {"float64"}
    assert keras.config.dtype_policy().name == "float32"  # restored
    np.testing.assert_allclose(exact.predict(x.astype("float64"), verbose=0),
                               run.model.predict(x, verbose=0), atol=1e-5)


def test_noise_floor_of_a_net_near_its_decision():
    # A net that picks the sign of 100 x the pixel sum: the noise (up to 4 x 0.5/255) outweighs
    # sums of up to 1/255 on some decisive rows and not on others.
    inputs = keras.Input((4,))
    centred = keras.layers.Dense(1, kernel_initializer=keras.initializers.Constant(100.0),
                                 bias_initializer="zeros")(inputs)
    sign = keras.Model(inputs, keras.layers.Concatenate()([centred, -centred]))
    x = np.zeros((64, 4), "float32")
    x[:, 0] = np.linspace(-1, 1, 64) / 255
    assert 0.0 < matrix._noise_floor(sign, x, sign.predict(x, verbose=0)) < 0.95
    assert matrix._noise_floor(sign, x * 255, sign.predict(x * 255, verbose=0)) == 1.0


def test_detection_scores_agree_within_the_tolerance_and_can_fail(rng):
    # Two levels of raw maps (N, H, W, 4 + 1 + C), C = 2; scores σ(obj)·σ(cls) span ~(0, 1).
    reference = {"p3": rng.normal(0, 2, (4, 8, 8, 7)).astype("float32"),
                 "p4": rng.normal(0, 2, (4, 4, 4, 7)).astype("float32")}
    fraction, worst, spread = matrix._score_agreement(reference, reference)
    assert (fraction, worst) == (1.0, 0.0) and 0.5 < spread < 1.0
    # Box channels do not enter the scores.
    moved = {k: v + np.array([9, 9, 9, 9, 0, 0, 0], "float32") for k, v in reference.items()}
    assert matrix._score_agreement(moved, reference)[0] == 1.0
    # An objectness channel off by 1 (logit) on every anchor: most scores move > 5% of range.
    perturbed = {k: v + np.array([0, 0, 0, 0, 1, 0, 0], "float32") for k, v in reference.items()}
    fraction, worst, _ = matrix._score_agreement(perturbed, reference)
    assert fraction < matrix.AGREEMENT and worst > matrix.SCORE_TOLERANCE
    # One anchor of 320 (its 2 scores: ~0 against ~1) off: 638 / 640 within, still >= 99%.
    low, high = ({k: v.copy() for k, v in reference.items()} for _ in range(2))
    low["p3"][0, 0, 0, 4:], high["p3"][0, 0, 0, 4:] = -20.0, 20.0
    fraction, worst, _ = matrix._score_agreement(high, low)
    assert fraction == pytest.approx(638 / 640) and worst > matrix.SCORE_TOLERANCE


def test_detection_data_are_canvases_with_boxes():
    spec = matrix.SPECS_BY_NAME["yolox"]
    x_train, y_train, x_eval, x_val, y_val = matrix._canvases(spec, 8, 16)
    assert x_train.shape == (16, 64, 64, 1) and x_eval.shape == (8, 64, 64, 1)
    assert len(x_val) == matrix.VALIDATION_COUNT
    for targets in (y_train, y_val):
        classes = targets["classes"]
        assert set(np.unique(classes)) <= {-1, 0, 1} and (classes >= 0).any(axis=1).all()
        assert targets["boxes"].shape == classes.shape + (4,)
    assert not np.array_equal(x_train[:8], x_eval)


def test_calibrated_ranges_are_the_activations_extremes(rng):
    # Conv -> BN -> ReLU -> Dense under TFMOT QAT: its ranges start at ±6 and move by 0.1% of
    # the distance per training step; calibrated, the ReLU's is [0, max of the ReLU output] and
    # a further training step leaves every range where it is.
    import tensorflow_model_optimization as tfmot
    import tf_keras

    inputs = tf_keras.Input((8, 8, 1))
    x = tf_keras.layers.Conv2D(4, 3)(inputs)
    relu = tf_keras.layers.ReLU(name="relu")(tf_keras.layers.BatchNormalization()(x))
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(3)(tf_keras.layers.Flatten()(relu)))
    qat = tfmot.quantization.keras.quantize_model(model)
    x = rng.uniform(size=(64, 8, 8, 1)).astype("float32")
    ranges = {w.name.split(":")[0]: w for w in qat.non_trainable_weights}
    assert float(ranges["quant_relu/output_max"].numpy()) == 6.0
    matrix._calibrate_ranges(qat, x)
    # The BN in training mode normalizes with the batch's statistics, as the calibration call.
    features = tf_keras.Model(inputs, relu)(x, training=True).numpy()
    assert float(ranges["quant_relu/output_min"].numpy()) == pytest.approx(0.0, abs=1e-3)
    assert float(ranges["quant_relu/output_max"].numpy()) == pytest.approx(features.max(),
                                                                           rel=0.02)
    calibrated = {name: float(w.numpy()) for name, w in ranges.items()
                  if name.endswith(("output_min", "output_max", "post_activation_min",
                                    "post_activation_max"))}
    assert len(calibrated) == 4
    # Not EMA ranges, left to TFMOT: the input's (all values seen) and the Dense kernel's (its
    # last value; per tensor, so a scalar too). The BatchNormalization statistics are put back.
    assert float(ranges["quantize_layer/quantize_layer_max"].numpy()) == pytest.approx(x.max())
    kernel = model.layers[-1].kernel.numpy()
    assert float(ranges["quant_dense/kernel_max"].numpy()) == pytest.approx(np.abs(kernel).max(),
                                                                            rel=1e-5)
    norm = [w.numpy() for w in qat.non_trainable_weights if "moving_" in w.name]
    np.testing.assert_array_equal(norm, [np.zeros(4), np.ones(4)])
    qat(x, training=True)
    for name, value in calibrated.items():
        assert float(ranges[name].numpy()) == pytest.approx(value, abs=1e-3), name


def test_carried_over_rows_render_as_before(tmp_path):
    # Rows written by markdown() (cells with '|' and ': ', a detection row, a row stopped
    # before training), rebuilt from the table: the same lines; a row already in the work
    # dir is kept.
    spec, detect = matrix.SPECS_BY_NAME["small_vgg"], matrix.SPECS_BY_NAME["yolox"]
    rows = []
    for spec_, variant, training in ((spec, "cas", (4, 0.7578, 4096)), (spec, "pas", None),
                                     (detect, "spd", (4, 6.2049, 1024))):
        run = matrix.ModelRun(spec_, variant, str(tmp_path / "old"))
        run.training, run.peak_rss = training, 2.14 * 2**30
        run.cells = {path: matrix.Cell(i % 2 == 0, f"{path}: a | b, 1.0e-05")
                     for i, path in enumerate(matrix.PATHS)}
        rows.append(run)
    table = matrix.markdown(rows)
    (tmp_path / "new").mkdir()
    kept = matrix.ModelRun(spec, "pas", str(tmp_path / "new"))
    kept.cells = {path: matrix.Cell(True, "re-run") for path in matrix.PATHS}
    kept.save()
    assert matrix.carry_over(table, str(tmp_path / "new")) == ["small_vgg_cas", "yolox_spd"]
    runs = [matrix.ModelRun(r.spec, r.variant, str(tmp_path / "new")) for r in rows]
    assert all(run.load() for run in runs)
    lines = matrix.markdown(runs).splitlines()
    assert [lines[i] for i in (-3, -1)] == [table.splitlines()[i] for i in (-3, -1)]
    assert "| ok: re-run |" in lines[-2]


def test_the_header_gives_each_builders_training_recipe():
    # every classifier whose recipe is not the default is named once, in the clause of its own
    # recipe (images, accuracy, epochs), so the table says how each row was trained
    header = " ".join(matrix.markdown([]).split())
    named = []
    for spec in matrix.SPECS:
        recipe = spec.recipe
        if spec.task == "detect" or not recipe.images:
            continue
        clause = (f"{recipe.images} images, until {recipe.accuracy:.0%}, at most "
                  f"{recipe.max_epochs} epochs")
        assert header.count(clause) == 1, clause
        builders = header.split(clause)[0].rsplit(". ", 1)[-1].rsplit("; ", 1)[-1]
        assert spec.builder in builders.rstrip(": ").split(", "), (spec.builder, builders)
        named.append(spec.builder)
    assert {"mobilenet", "vgg16", "resnet50"} <= set(named)


def test_quantization_starts_from_the_trained_net_not_the_pruned_one(tmp_path):
    # TFMOT's prune_low_magnitude wraps the twin's own layers: a twin shared by the paths came
    # to qat_int8 50%-pruned (every QAT cell of the matrix measured a pruned net before)
    run = matrix.ModelRun(SPEC, "mixed", str(tmp_path), data=matrix._data(SPEC, 16, 64))
    run.run(paths=("pruning",))
    assert run.cells["pruning"].ok, run.cells["pruning"]
    trained = run.model.get_weights()
    for got, expected in zip(run._twin().get_weights(), trained):
        np.testing.assert_array_equal(got, expected)
    assert all(np.mean(w == 0) < 0.5 for w in trained if w.ndim == 4)  # not pruned either


def test_agreement_under_99_percent_is_decided_on_more_images(tmp_path, monkeypatch):
    # near 99% a few hundred images cannot tell: below AGREEMENT the cell runs WIDER_COUNT
    # Fashion-MNIST train-split images as well and all of them decide (here AGREEMENT is out of
    # reach, so the wider check runs and the cell still fails)
    monkeypatch.setattr(matrix, "AGREEMENT", 1.01)
    monkeypatch.setattr(matrix, "WIDER_COUNT", 48)
    run = matrix.ModelRun(SPEC, "mixed", str(tmp_path), data=matrix._data(SPEC, 16, 64))
    run.run(paths=("qat_int8",))
    cell = run.cells["qat_int8"]
    assert not cell.ok
    assert "with 48 train-split images" in cell.detail and "of all 64 < 101%" in cell.detail


def test_the_wider_images_are_not_the_test_images_the_rows_use():
    train, _ = matrix._images((28, 28, 1), 64, split="train")
    test, _ = matrix._images((28, 28, 1), 10000)
    flat_test = {row.tobytes() for row in test.reshape(len(test), -1)}
    assert not any(row.tobytes() in flat_test for row in train.reshape(len(train), -1))
