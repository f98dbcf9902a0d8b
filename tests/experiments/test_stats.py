import math

import numpy as np
import pytest

from keras_adastride.experiments.stats import (fisher_exact_greater, mean_std,
                                               paired_difference_ci, t_cdf, t_quantile)

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize("df", [1, 2, 4, 9, 40])
def test_t_distribution_matches_scipy(df):
    for p in (0.6, 0.9, 0.975, 0.995):
        assert t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-7)
    for x in (-3.0, -0.5, 0.0, 1.2, 6.0):
        assert t_cdf(x, df) == pytest.approx(scipy_stats.t.cdf(x, df), abs=1e-9)


def test_paired_difference_ci_matches_scipy():
    a = np.array([0.91, 0.88, 0.90, 0.93, 0.89])
    b = np.array([0.90, 0.89, 0.87, 0.91, 0.88])
    diff = a - b
    low, high = scipy_stats.t.interval(0.95, len(diff) - 1, loc=diff.mean(),
                                       scale=scipy_stats.sem(diff))
    mean, got_low, got_high = paired_difference_ci(a, b)
    assert mean == pytest.approx(diff.mean())
    assert (got_low, got_high) == pytest.approx((low, high), rel=1e-7)


def test_edge_cases_and_errors():
    assert mean_std([0.5])[0] == 0.5 and math.isnan(mean_std([0.5])[1])
    assert mean_std([1.0, 3.0]) == pytest.approx((2.0, math.sqrt(2.0)))
    mean, low, high = paired_difference_ci([0.7], [0.5])
    assert mean == pytest.approx(0.2) and math.isnan(low) and math.isnan(high)
    with pytest.raises(ValueError, match="pair"):
        paired_difference_ci([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="p must"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="df must"):
        t_quantile(0.9, 0)


@pytest.mark.parametrize("failed, runs, reference_failed, reference_runs", [
    (1, 5, 0, 5), (3, 20, 0, 20), (5, 20, 1, 20), (0, 20, 4, 20), (2, 3, 2, 30), (7, 7, 0, 7)])
def test_fisher_exact_greater_matches_scipy(failed, runs, reference_failed, reference_runs):
    table = [[failed, runs - failed], [reference_failed, reference_runs - reference_failed]]
    _, expected = scipy_stats.fisher_exact(table, alternative="greater")
    assert fisher_exact_greater(failed, runs, reference_failed, reference_runs) == pytest.approx(
        expected, rel=1e-9)


def test_fisher_exact_greater_refuses_impossible_counts():
    with pytest.raises(ValueError, match="failed must be between 0 and its runs \\(5\\), got 6"):
        fisher_exact_greater(6, 5, 0, 5)
    with pytest.raises(ValueError, match="reference_failed .* got -1"):
        fisher_exact_greater(0, 5, -1, 5)
