"""downsampling="pas-<pool_mode>": PAS with that pool mode at the PAS sites."""

import pytest

from keras_adastride import PAS, models


def test_pas_variant_with_a_pool_mode():
    model = models.small_vgg((28, 28, 1), 10, downsampling="pas-median")
    pas = [layer for layer in model.layers if isinstance(layer, PAS)]
    assert [(layer.name, layer.pool_mode) for layer in pas] == [("block2_pool", "median")]
    plain = models.small_vgg((28, 28, 1), 10, downsampling="pas")
    assert model.count_params() == plain.count_params()


@pytest.mark.parametrize("downsampling", ["pas-min", "cas-median", "pas-"])
def test_bad_pool_mode_variant_names_the_argument(downsampling):
    with pytest.raises(ValueError, match=f"downsampling.*{downsampling!r}"):
        models.small_vgg((28, 28, 1), 10, downsampling=downsampling)
