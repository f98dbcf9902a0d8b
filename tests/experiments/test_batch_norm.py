"""Batch-norm recalibration: moving statistics := the mean of the batches' statistics (NumPy
reference), nothing else changes, and the main job's fit recalibrates at every epoch's end."""

import keras
import numpy as np

from keras_adastride.experiments.batch_norm import (SettleBatchNorms, batch_norms,
                                                    settle_batch_norms)
from keras_adastride.experiments.train import fit_run


def _net(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(5, 3, strides=2, padding="same", name="conv2")(x)
    x = keras.layers.BatchNormalization(name="bn2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def _images(count, seed=1):
    # far from the initial moving statistics (mean 0, variance 1)
    return (np.random.default_rng(seed).normal(3.0, 2.0, (count, 8, 8, 2))).astype("float32")


def test_moving_statistics_are_the_mean_of_the_batch_statistics():
    model, x = _net(), _images(40)
    conv1 = keras.Model(model.input, model.get_layer("conv1").output).predict(x, verbose=0)
    batches = [conv1[i:i + 16] for i in range(0, 40, 16)]  # 16, 16, 8 images
    settle_batch_norms(model, x, batch_size=16)
    bn1 = model.get_layer("bn1")
    np.testing.assert_allclose(bn1.moving_mean.numpy(),
                               np.mean([b.mean(axis=(0, 1, 2)) for b in batches], axis=0),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(bn1.moving_variance.numpy(),
                               np.mean([b.var(axis=(0, 1, 2)) for b in batches], axis=0),
                               rtol=1e-4, atol=1e-5)
    assert [norm.momentum for norm in batch_norms(model)] == [0.99, 0.99]  # restored


def test_one_batch_makes_inference_equal_training_mode_and_changes_no_weight():
    model, x = _net(), _images(32)
    before = {w.path: w.numpy() for w in model.weights}
    training_mode = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(model.predict(x, verbose=0), training_mode, atol=1e-2)  # stale stats
    settle_batch_norms(model, x, batch_size=32)
    np.testing.assert_allclose(model.predict(x, verbose=0), training_mode, rtol=1e-4, atol=1e-4)
    changed = {w.path for w in model.weights if not np.array_equal(w.numpy(), before[w.path])}
    assert changed == {f"{bn}/moving_{s}" for bn in ("bn1", "bn2") for s in ("mean", "variance")}


def test_model_without_batch_norm_is_left_alone():
    inputs = keras.Input((8, 8, 2))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3)(inputs))
    before = [w.numpy() for w in model.weights]
    settle_batch_norms(model, _images(8))
    assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, model.weights))


def test_fit_run_ends_every_epoch_with_settled_statistics():
    model, x = _net(), _images(96)
    y = np.random.default_rng(2).integers(0, 3, 96)
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    data = dict(x_train=x, y_train=y, x_val=x[:16], y_val=y[:16])
    seen = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(model.get_layer("bn2").moving_mean.numpy().copy())

    fit_run(model, data, seed=0, epochs=2, batch_size=32, verbose=0, callbacks=[Record()])
    # settling again on the same images with the final weights changes nothing
    settled = model.get_layer("bn2").moving_mean.numpy().copy()
    settle_batch_norms(model, x, batch_size=32)
    np.testing.assert_allclose(model.get_layer("bn2").moving_mean.numpy(), settled, atol=1e-5)
    np.testing.assert_allclose(seen[-1], settled, atol=1e-5)
    assert not np.allclose(seen[0], seen[1])  # recalibrated after each epoch, not once


def test_callback_settles_after_the_last_batch_only():
    model, x = _net(), _images(16)
    callback = SettleBatchNorms(x, batch_size=16)
    callback.set_model(model)
    callback.set_params({"steps": 3})
    callback.on_train_batch_end(0)
    assert np.allclose(model.get_layer("bn1").moving_mean.numpy(), 0.0)
    callback.on_train_batch_end(2)
    assert not np.allclose(model.get_layer("bn1").moving_mean.numpy(), 0.0)
