"""The training harness's model building: the gate budget reaches exactly the gated layers."""

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
    options = ComparisonConfig(target_stride=2).gate_options()
    with_options = build_model("small_vgg", variant, (28, 28, 1), 10, gate_options=options)
    plain = build_model("small_vgg", variant, (28, 28, 1), 10)
    assert with_options.count_params() == plain.count_params()
    assert not adaptive_layers(with_options)


def test_no_budget_by_default_and_bad_budget_named():
    assert ComparisonConfig().gate_options() is None
    with pytest.raises(ValueError, match="target_stride must be >= 1 or None, got 0.5"):
        ComparisonConfig(target_stride=0.5)
    with pytest.raises(ValueError, match="target_stride_weight must be > 0, got 0"):
        ComparisonConfig(target_stride=2, target_stride_weight=0)
