"""The measures: population stability index with epsilon smoothing, and the tests beside it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Pseudo-count added to every bin on both sides before PSI ("epsilon smoothing"): an empty bin
#: would make the logarithm infinite, and half an image keeps a bin that one image would fill
#: from counting as a shift.
SMOOTHING = 0.5


def smoothed_shares(counts: Sequence[float], pseudo: float = SMOOTHING) -> np.ndarray:
    """Shares with ``pseudo`` added to every bin (epsilon smoothing: no empty bin)."""
    c = np.asarray(counts, dtype=np.float64) + pseudo
    return c / c.sum()


def psi(expected: Sequence[float], actual: Sequence[float], pseudo: float = SMOOTHING) -> float:
    """Population stability index of ``actual`` against ``expected`` (counts per bin).

    PSI = sum over bins of (a - e) * ln(a / e), a and e the smoothed shares
    (:func:`smoothed_shares`). 0 means the same distribution; it is symmetric.

    Raises:
        ValueError: Different numbers of bins, or none.
    """
    if len(expected) != len(actual) or not len(expected):
        raise ValueError(f"PSI needs the same bins on both sides, got {len(expected)} and {len(actual)}")
    e, a = smoothed_shares(expected, pseudo), smoothed_shares(actual, pseudo)
    return float(np.sum((a - e) * np.log(a / e)))


def chi2_sf(x: float, df: int) -> float:
    """P(X > x) for a chi-square variable with ``df`` (>= 1) degrees of freedom; closed forms, no SciPy."""
    if df < 1:
        raise ValueError("df must be at least 1")
    if x <= 0:
        return 1.0
    half = x / 2.0
    if df % 2 == 0:  # exp(-x/2) * sum_{i < df/2} (x/2)^i / i!
        term = total = math.exp(-half)
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return min(1.0, total)
    # Odd df: erfc(sqrt(x/2)) + sqrt(2/pi) e^(-x/2) sum_{i=1}^{(df-1)/2} x^(i-1/2) / (1*3*...*(2i-1)).
    total, term = math.erfc(math.sqrt(half)), math.sqrt(x)
    acc = 0.0
    for i in range(1, (df - 1) // 2 + 1):
        acc += term
        term *= x / (2 * i + 1)
    return min(1.0, total + math.sqrt(2.0 / math.pi) * math.exp(-half) * acc)


def two_sample_chi2(expected: Sequence[float], actual: Sequence[float]) -> tuple[float, int]:
    """Pearson's chi-square of a 2 x k table of counts (bins empty on both sides dropped) and its df."""
    e, a = np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    keep = (e + a) > 0
    e, a = e[keep], a[keep]
    if e.size < 2 or e.sum() == 0 or a.sum() == 0:
        return 0.0, 1
    table = np.stack([e, a])  # (2, k)
    expect = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    return float(((table - expect) ** 2 / expect).sum()), int(e.size - 1)


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (n in the thousands is fine)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))
