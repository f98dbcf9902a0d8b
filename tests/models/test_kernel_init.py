"""``initializers.redraw_default_kernels``: He-normal instead of Keras' Glorot-uniform start."""

import keras
import numpy as np
import pytest

from keras_adastride import models
from keras_adastride.experiments.config import KERNEL_INITS
from keras_adastride.initializers import KERNEL_DRAWS, redraw_default_kernels
from keras_adastride.layers import CAS, SpaceToDepthConv, StrideGate


def _kernels(model):
    """{path: kernel array} of every weight named ``kernel`` (sublayers' included)."""
    return {w.path: np.array(w.numpy()) for w in model.weights if w.path.endswith("kernel")}


@pytest.mark.parametrize("variant", ["cas", "spd"])
def test_he_normal_redraws_the_glorot_kernels_only(variant):
    # VGG16 at alpha 0.25: 13 convs + 3 dense layers. CAS: its main convs (block1_conv1,
    # block3_conv1) are redrawn too, its gates not; SPD: the 5 pool sites keep their averaging
    # start.
    keras.utils.set_random_seed(0)
    model = models.vgg16((32, 32, 1), 10, alpha=0.25, downsampling=variant)
    before = _kernels(model)
    redrawn = redraw_default_kernels(model, "he_normal", seed=1)
    after = _kernels(model)
    gates = {w.path for layer in model.layers if isinstance(layer, CAS)
             for w in layer.gate.weights}
    fixed = {w.path for layer in model.layers if isinstance(layer, SpaceToDepthConv)
             for w in layer.weights if w.path.endswith("kernel")}
    changed = {path for path in before if not np.array_equal(before[path], after[path])}
    assert len(redrawn) == 16 and changed == set(before) - gates - fixed
    assert len(fixed) == (5 if variant == "spd" else 0)
    assert all(isinstance(layer.gate, StrideGate) for layer in model.layers
               if isinstance(layer, CAS)) and (variant == "spd" or gates)
    for path in changed:
        fan_in = np.prod(after[path].shape[:-1])
        # Glorot's std is sqrt(2 / (fan_in + fan_out)): 1/1.4 of He's for a square conv.
        assert after[path].std() == pytest.approx(np.sqrt(2 / fan_in), rel=0.2), path
    same_shape = [after[p] for p in changed if after[p].shape == (3, 3, 64, 64)]
    assert len(same_shape) == 2 and not np.allclose(*same_shape)


def test_redraw_is_seeded_and_refuses_unknown_names():
    build = lambda: models.small_vgg((28, 28, 1), 10)  # noqa: E731
    first, second = build(), build()
    redraw_default_kernels(first, "he_normal", seed=3)
    redraw_default_kernels(second, "he_normal", seed=3)
    for a, b in zip(first.weights, second.weights):
        if a.path.endswith("kernel"):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="`kernel_init`.*'orthogonal'"):
        redraw_default_kernels(first, "orthogonal")


def test_the_command_line_offers_the_draws_there_are():
    # config.KERNEL_INITS is a Keras-free copy of KERNEL_DRAWS' names (the CLI imports no Keras).
    assert tuple(KERNEL_DRAWS) == KERNEL_INITS
