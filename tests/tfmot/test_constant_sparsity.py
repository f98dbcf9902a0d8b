"""Constant-sparsity pruning of a Keras 3 builder's model (seed 002's cascade), measured on the
weights of the saved file."""

import numpy as np
import pytest
import tf_keras

from keras_adastride import models
from keras_adastride.tfmot.sparsity import SEED002_KEPT, main, prune_constant


def test_the_saved_kernels_have_the_constant_sparsity(fashion, tmp_path):
    x, y, x_test, y_test = fashion
    model = models.dilated_vgg((16, 16, 1), 10, downsampling="cascade", alpha=0.5)
    crop = (slice(None, 64), slice(6, 22), slice(6, 22))  # 16x16: cheaper, same kernels
    data = {"x_train": x[crop], "y_train": y[:64], "x_test": x_test[crop], "y_test": y_test[:64]}
    target = 1.0 - SEED002_KEPT["cascade"]
    result = prune_constant(model, data, target, tmp_path / "cascade.keras", epochs=1,
                            batch_size=32)  # frequency 20 > 2 steps: capped at 2
    # every conv kernel and the dense kernel, read back from the file (independently here)
    saved = tf_keras.models.load_model(tmp_path / "cascade.keras", compile=False)
    kernels = {layer.name: layer.kernel.numpy() for layer in saved.layers
               if getattr(layer, "kernel", None) is not None}
    assert len(kernels) == 11 and set(result["kernel_sparsity"]) == {
        f"{name}/kernel" for name in kernels}
    for name, kernel in kernels.items():
        zeros = np.mean(kernel == 0)
        assert abs(zeros - target) <= 1 / kernel.size + 1e-9, name
        assert result["kernel_sparsity"][f"{name}/kernel"] == pytest.approx(zeros)
    nonzero = sum(int(np.count_nonzero(w)) for w in saved.trainable_weights)
    assert result["nonzero_params"] == nonzero < 0.4 * result["params"]
    assert result["params"] == sum(int(np.size(w)) for w in model.trainable_weights)
    assert 0 <= result["test_accuracy"] <= 1


def test_bad_targets_are_refused(tmp_path):
    model = models.dilated_vgg((8, 8, 1), 2)
    with pytest.raises(ValueError, match="target_sparsity=1.0"):
        prune_constant(model, {}, 1.0, tmp_path / "m.keras")
    with pytest.raises(ValueError, match="path='m.h5'"):
        prune_constant(model, {}, 0.5, "m.h5")
    with pytest.raises(SystemExit):
        main(["--variant", "original"])  # no seed 002 share kept for it: --kept is required


def test_the_saved_batch_norm_statistics_are_those_of_the_pruned_weights(fashion, tmp_path):
    """Pruning moves the weights faster than BN's moving statistics follow (seed 002's pruned
    cascade scored 21% in inference mode, 75% with batch statistics): the file's first BN must hold
    the mean of its pruned conv's outputs over the training images, computed here from the file."""
    x, y, _, _ = fashion
    data = {"x_train": x[:64, 6:22, 6:22], "y_train": y[:64]}
    data.update(x_test=data["x_train"], y_test=data["y_train"])
    model = models.dilated_vgg((16, 16, 1), 10, downsampling="cascade", alpha=0.5)
    prune_constant(model, data, 0.75, tmp_path / "cascade.keras", epochs=1, batch_size=32)
    saved = tf_keras.models.load_model(tmp_path / "cascade.keras", compile=False)
    conv = tf_keras.Model(saved.input, saved.get_layer("conv1_1").output)
    expected = conv.predict(data["x_train"], verbose=0).mean(axis=(0, 1, 2))
    np.testing.assert_allclose(saved.get_layer("conv1_1_bn").moving_mean.numpy(), expected,
                               rtol=1e-4, atol=1e-5)
