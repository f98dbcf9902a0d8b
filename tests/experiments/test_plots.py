"""The gate picture: one colour scale for every panel, dropped positions black over the input."""

import matplotlib
import numpy as np
import pytest

from keras_adastride.experiments.plots import gate_overlay, plot_gate_maps, pyplot


def test_overlay_colours_follow_one_fixed_scale_and_blacken_dropped_positions():
    cmap = pyplot().get_cmap("cool")
    small = gate_overlay(np.array([[0.0, 1.0]]), cmap, vmax=4.0)
    large = gate_overlay(np.array([[4.0, 1.0]]), cmap, vmax=4.0)
    # The same value has the same colour in every map; the scale is [0, vmax], not the map's range.
    np.testing.assert_allclose(small[0, 1], large[0, 1])
    np.testing.assert_allclose(large[0, 0, :3], cmap(1.0)[:3])
    np.testing.assert_allclose(small[0, 1, :3], cmap(0.25)[:3])
    np.testing.assert_allclose(small[0, 0], (0.0, 0.0, 0.0, 0.88))  # dropped: black, opaque-ish
    assert 0 < small[0, 1, 3] < 0.88 and small[0, 1, :3].min() < small[0, 1, :3].max()


def test_gate_picture_reports_kept_shares_and_shows_dropped_positions(tmp_path):
    images = np.ones((2, 8, 8, 1), np.float32)  # white inputs: only a gate can make black
    cas = np.zeros((2, 8, 8, 1), np.float32)
    cas[0, :, 4:] = 3.0   # image 0: right half kept
    cas[1] = 0.5          # image 1: all kept, faint
    pas = np.zeros((2, 4, 4, 2), np.float32)
    pas[:, :1, :, 0] = 1.0  # one channel keeps the top row: a position kept by any channel counts
    kept = plot_gate_maps(images, {"cas: a": cas, "pas: b": pas}, tmp_path / "g.png")
    assert kept == {"cas: a": [50.0, 100.0], "pas: b": [25.0, 25.0]}
    picture = matplotlib.image.imread(tmp_path / "g.png")[..., :3]
    assert picture.ndim == 3 and min(picture.shape[:2]) > 150
    black = (picture.max(axis=-1) < 0.15).mean()
    assert black > 0.02  # dropped positions over white images
    cyan_to_magenta = (picture[..., 2] > 0.8) & (np.abs(picture[..., 0] - picture[..., 1]) > 0.3)
    assert cyan_to_magenta.mean() > 0.02  # kept positions tinted on the colour scale


def test_a_picture_without_gates_is_refused_cleanly(tmp_path):
    with pytest.raises(ValueError, match="gate_maps must hold at least one gate map"):
        plot_gate_maps(np.ones((1, 8, 8, 1)), {}, tmp_path / "none.png")
