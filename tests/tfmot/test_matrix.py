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
