"""The training harness's model building: the gate budget reaches exactly the gated layers."""

import os
import shutil

import keras
import numpy as np
import pytest

from keras_adastride.experiments.compare import ComparisonConfig
from keras_adastride.experiments.train import adaptive_layers, build_model


@pytest.mark.parametrize("variant", ["cas", "pas"])
def test_target_stride_reaches_every_gate(variant):
    options = ComparisonConfig(target_stride=2, target_stride_weight=0.5).gate_options()
    model = build_model("small_vgg", variant, (28, 28, 1), 10, gate_options=options)
    layers = adaptive_layers(model)
    assert layers
    for layer in layers:
        assert layer.gate.target_stride == 2.0 and layer.gate.target_stride_weight == 0.5
    free = adaptive_layers(build_model("small_vgg", variant, (28, 28, 1), 10))
    assert [layer.gate.target_stride for layer in free] == [None] * len(layers)


@pytest.mark.parametrize("variant", ["original", "spd"])
def test_gate_options_ignored_where_there_is_no_gate(variant):
    options = ComparisonConfig().gate_options()
    with_options = build_model("small_vgg", variant, (28, 28, 1), 10, gate_options=options)
    plain = build_model("small_vgg", variant, (28, 28, 1), 10)
    assert with_options.count_params() == plain.count_params()
    assert not adaptive_layers(with_options)


def test_a_budget_by_default_none_on_request_and_bad_budget_named():
    assert ComparisonConfig().gate_options() == {"target_stride": 2.0, "target_stride_weight": 1.0}
    assert ComparisonConfig(target_stride=None).gate_options() is None
    # The budget is the task's default: a task without one (the base class's) gets none.
    assert ComparisonConfig(task="segmentation").gate_options() is None
    assert ComparisonConfig(task="segmentation", target_stride=3).gate_options() == {
        "target_stride": 3.0, "target_stride_weight": 0.1}
    with pytest.raises(ValueError, match="target_stride must be >= 1 or None, got 0.5"):
        ComparisonConfig(target_stride=0.5)
    with pytest.raises(ValueError, match="target_stride_weight must be > 0, got 0"):
        ComparisonConfig(target_stride=2, target_stride_weight=0)


def test_inference_figures_dense_and_sparse_of_the_same_weights():
    import keras
    import numpy as np

    from keras_adastride import CAS, PAS
    from keras_adastride.experiments.train import inference_figures
    from keras_adastride.flops import count_flops

    def tiny(gated):
        image = keras.Input((12, 12, 1))
        x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(image)
        if gated:
            x = PAS(name="pas", gate_init="random")(CAS(4, 3, name="cas", gate_init="random")(x))
        return keras.Model(image, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))

    rng = np.random.default_rng(0)
    images = rng.normal(size=(6, 12, 12, 1)).astype("float32")
    labels = rng.integers(0, 3, 6)
    model = tiny(gated=True)
    figures = inference_figures(model, images, labels, batch_size=4, rounds=1)
    assert [layer.sparse_inference for layer in adaptive_layers(model)] == [False, False]
    assert figures["sparse_same_predictions"] == 1.0
    assert figures["sparse_max_abs_difference"] <= 1e-5
    assert figures["sparse_accuracy"] == figures["dense_accuracy"]
    assert figures["dense_ms_per_image"] > 0 and figures["sparse_ms_per_image"] > 0
    assert figures["auto_ms_per_image"] > 0 and figures["auto_max_abs_difference"] <= 1e-5
    assert sorted(figures["kept_tiles"]) == ["cas", "pas"]
    assert all(0 <= kept <= 1 for kept in figures["kept_tiles"].values())
    assert 0 < figures["effective_flops"]
    plain = tiny(gated=False)
    figures = inference_figures(plain, images, labels, rounds=1)
    assert figures["sparse_ms_per_image"] is None and figures["kept_tiles"] == {}
    assert figures["auto_ms_per_image"] is None
    assert figures["effective_flops"] == count_flops(plain)


@pytest.mark.tensorflow_only
def test_fit_run_traces_the_train_step_once_and_trains_as_keras_alone(monkeypatch):
    """build_before_fit: the train step is traced once (Keras alone: twice, its first trace
    creates the optimizer's and metrics' variables), and the weights after training are those
    of a run without it, exactly."""
    import keras
    import numpy as np

    from keras_adastride.experiments import train

    rng = np.random.default_rng(0)
    data = dict(x_train=rng.random((24, 8, 8, 1), "float32"), y_train=rng.integers(0, 3, 24),
                x_val=rng.random((8, 8, 8, 1), "float32"), y_val=rng.integers(0, 3, 8))

    def fitted(prebuild):
        keras.utils.set_random_seed(0)
        model = build_model("dilated_vgg", "cas", (8, 8, 1), 3,
                            gate_options={"target_stride": 2.0, "target_stride_weight": 1.0})
        model.compile(optimizer=keras.optimizers.Adam(0.01), metrics=["accuracy"],
                      loss="sparse_categorical_crossentropy", jit_compile=False)
        traces, train_step = [], model.train_step
        model.train_step = lambda batch: traces.append(1) or train_step(batch)
        if not prebuild:  # Keras' own path: nothing built before fit
            monkeypatch.setattr(train, "build_before_fit", lambda model, batch: None)
        train.fit_run(model, data, seed=0, epochs=2, batch_size=8, verbose=0)
        return len(traces), [w.numpy() for w in model.weights]

    (once, weights), (twice, keras_weights) = fitted(True), fitted(False)
    assert (once, twice) == (1, 2)
    for a, b in zip(weights, keras_weights):
        np.testing.assert_array_equal(a, b)


def _dense_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("sgd", "mse")
    return model


def test_backup_whose_epoch_record_was_cut_short_falls_back_or_starts_over(tmp_path):
    # a kill while BackupAndRestore writes training_metadata.json leaves it empty; Keras's
    # own fallback covers only unreadable weights, and the resumed run died with JSONDecodeError
    from keras_adastride.experiments.train import BackupAndRestore

    backup = tmp_path / "backup"
    model = _dense_model()
    start = [w.copy() for w in model.get_weights()]
    callback = BackupAndRestore(str(backup))
    callback.set_model(model)
    os.makedirs(backup)
    saved = _dense_model()
    saved.set_weights([w + 1 for w in start])
    saved.save_weights(callback._weights_path)
    shutil.copy(callback._weights_path, callback._prev_weights_path)
    (backup / "training_metadata.json.bkp").write_text('{"epoch": 1, "batch": 0}')
    saved.set_weights([w + 2 for w in start])
    saved.save_weights(callback._weights_path)
    (backup / "training_metadata.json").write_text("")  # the kill
    callback.on_train_begin()  # the epoch before: its weights, and training resumes after it
    assert model._initial_epoch == 1
    for got, w in zip(model.get_weights(), start):
        np.testing.assert_allclose(got, w + 1)

    os.remove(callback._prev_weights_path)  # the first epoch's record cut short: start over
    os.remove(backup / "training_metadata.json.bkp")
    (backup / "training_metadata.json").write_text('{"epo')
    model = _dense_model()
    start = [w.copy() for w in model.get_weights()]
    callback = BackupAndRestore(str(backup))
    callback.set_model(model)
    callback.on_train_begin()
    assert not backup.exists() and not getattr(model, "_initial_epoch", 0)
    for got, w in zip(model.get_weights(), start):
        np.testing.assert_array_equal(got, w)
