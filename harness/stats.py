"""Statistics for the judge: one-sided tests, bootstrap intervals, Holm's correction.

Pure functions on 1-D arrays; no pytest, no printing.  Shapes: ``x`` is ``(n_seeds,)``.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import stats


def has_spread(x: np.ndarray) -> bool:
    """Whether a sample varies: False for n = 1 or values equal up to rounding (a deterministic measurement)."""
    x = np.asarray(x, dtype=float)
    return x.size > 1 and np.ptp(x) > 1e-12 * max(1.0, float(np.max(np.abs(x))))


def one_sided_p(x: np.ndarray, direction: str, test: str = "t") -> float:
    """p-value of H1: mean(x) > 0 ('greater') or mean(x) < 0 ('less').

    A sample without spread (a deterministic measurement, or n = 1) has no sampling error: its
    p-value is 0 when every value lies strictly on the claimed side and 1 otherwise.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected a non-empty 1-D sample, got shape {x.shape}")
    if not has_spread(x):
        side = x > 0 if direction == "greater" else x < 0
        return 0.0 if bool(np.all(side)) else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if test == "t":
            return float(stats.ttest_1samp(x, 0.0, alternative=direction).pvalue)
        if test == "wilcoxon":
            if np.all(x == 0):
                return 1.0
            return float(stats.wilcoxon(x, alternative=direction, zero_method="zsplit").pvalue)
    raise ValueError(f"unknown test {test!r}; use 't' or 'wilcoxon'")


def bootstrap_ci(x: np.ndarray, confidence: float, seed: int = 0, n_resamples: int = 2000) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``x`` (two-sided, at ``confidence``).

    With confidence = 1 - 2*alpha, the lower bound is the one-sided (1 - alpha) bound that
    matches the test.  A sample without spread returns (mean, mean).
    """
    x = np.asarray(x, dtype=float)
    mean = float(np.mean(x))
    if x.size < 2 or np.ptp(x) == 0:
        return mean, mean
    res = stats.bootstrap(
        (x,), np.mean, confidence_level=confidence, n_resamples=n_resamples, method="percentile", rng=np.random.default_rng(seed)
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def holm(pvalues: list[float] | np.ndarray) -> np.ndarray:
    """Holm–Bonferroni step-down adjusted p-values (same order as the input)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, idx in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[idx]))
        adjusted[idx] = running
    return adjusted


def fit_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope and intercept of y against x (both 1-D, same length)."""
    slope, intercept = np.polyfit(np.asarray(x, float), np.asarray(y, float), 1)
    return float(slope), float(intercept)


def detectable_effect(sd: float, n: int, alpha: float, power: float = 0.8) -> float:
    """The smallest true mean a one-sided t-test on ``n`` values of spread ``sd`` detects at ``alpha``
    with probability ``power``: (t_{1-alpha, n-1} + t_{power, n-1}) * sd / sqrt(n), in the values' unit.
    0 for a sample without spread (it is judged exactly); inf for n < 2."""
    if sd == 0:
        return 0.0
    if n < 2:
        return float("inf")
    return float((stats.t.ppf(1 - alpha, n - 1) + stats.t.ppf(power, n - 1)) * sd / np.sqrt(n))


def seeds_to_detect(sd: float, gap: float, alpha: float, power: float = 0.8, n_max: int = 1000) -> int | None:
    """Roughly how many seeds a one-sided t-test needs to detect a true difference ``gap`` (same unit as
    ``sd``) at ``alpha`` with probability ``power``; None when more than ``n_max`` (or gap is 0)."""
    if gap <= 0:
        return None
    if sd == 0:
        return 2
    for n in range(2, n_max + 1):
        if detectable_effect(sd, n, alpha, power) <= gap:
            return n
    return None
