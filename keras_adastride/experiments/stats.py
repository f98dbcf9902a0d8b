"""Summary statistics for a comparison over seeds (NumPy and the standard library only).

- ``mean_std``: mean and sample standard deviation (ddof = 1).
- ``paired_difference_ci``: mean of ``d_i = a_i - b_i`` over seeds with the two-sided interval
  ``mean(d) ± t_{1-α/2, n-1} · std(d) / sqrt(n)`` (Student's t, n - 1 degrees of freedom).
- ``fisher_exact_greater``: the one-sided Fisher exact test of whether one group fails more
  often than another (``scipy.stats.fisher_exact(..., alternative="greater")``, written out
  because SciPy is not a dependency; the tests compare the two).
"""

import math

import numpy as np


def _t_pdf(x, df):
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return np.exp(log_norm - (df + 1) / 2 * np.log1p(x * x / df))


def t_cdf(x, df):
    """P(T <= x) for Student's t with ``df`` degrees of freedom (Simpson's rule on the density)."""
    if x < 0:
        return 1.0 - t_cdf(-x, df)
    # Substitute x = tan(θ): the integrand stays bounded and smooth on [0, atan(x)].
    theta = np.linspace(0.0, math.atan(x), 2001)
    values = _t_pdf(np.tan(theta), df) / np.cos(theta) ** 2
    h = theta[1] - theta[0]
    area = h / 3 * (values[0] + values[-1] + 4 * values[1:-1:2].sum() + 2 * values[2:-1:2].sum())
    return 0.5 + float(area)


def t_quantile(p, df):
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on the CDF)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}.")
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df!r}.")
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, high * 2
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
    return (low + high) / 2


def mean_std(values):
    """``(mean, sample std)``; the std is NaN for a single value."""
    values = np.asarray(values, np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else float("nan")


def paired_difference_ci(a, b, confidence=0.95):
    """``(mean difference, low, high)`` of ``a - b`` paired by index (e.g. by seed).

    The interval is NaN with fewer than two pairs.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must pair up, got shapes {a.shape} and {b.shape}.")
    diff = a - b
    mean, std = mean_std(diff)
    if diff.size < 2:
        return mean, float("nan"), float("nan")
    half = t_quantile(0.5 + confidence / 2, diff.size - 1) * std / math.sqrt(diff.size)
    return mean, mean - half, mean + half


def fisher_exact_greater(failed, runs, reference_failed, reference_runs):
    """P(X >= ``failed``) for X hypergeometric: ``runs`` draws from the ``runs +
    reference_runs`` runs, of which ``failed + reference_failed`` failed. Small: the group fails
    more often than the reference beyond chance; 1 when it fails no more often at all."""
    for name, count, total in (("failed", failed, runs),
                               ("reference_failed", reference_failed, reference_runs)):
        if not 0 <= count <= total:
            raise ValueError(f"{name} must be between 0 and its runs ({total}), got {count!r}.")
    population, failures = runs + reference_runs, failed + reference_failed
    ways = math.comb(population, runs)
    return float(sum(math.comb(failures, k) * math.comb(population - failures, runs - k)
                     for k in range(failed, min(failures, runs) + 1)) / ways)
