"""The measures: population stability index with epsilon smoothing, and the tests beside it.

PSI says how far a window moved; the p-value beside it says whether a window
that small could have moved that far by chance. The chi-square approximation
of that p-value fails here (fixed bins leave many nearly empty, windows are
small: it called 3.5 % of 30-image windows drawn from the validation set
itself "drift"), so the p-value is a parametric bootstrap of the PSI itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: Pseudo-count added to every bin on both sides before PSI ("epsilon smoothing"): an empty bin
#: would make the logarithm infinite, and half an image keeps a bin that one image would fill
#: from counting as a shift.
SMOOTHING = 0.5
#: Bootstrap draws per p-value: resolves p down to 1/2001, below the drift threshold's 0.001.
DRAWS = 2000


def smoothed_shares(counts: Sequence[float] | np.ndarray, pseudo: float = SMOOTHING) -> np.ndarray:
    """Shares with ``pseudo`` added to every bin (epsilon smoothing: no empty bin); rows of a 2-D array alike."""
    c = np.asarray(counts, dtype=np.float64) + pseudo
    return c / c.sum(axis=-1, keepdims=True)


def _psi(e: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.sum((a - e) * np.log(a / e), axis=-1)


def psi(expected: Sequence[float], actual: Sequence[float], pseudo: float = SMOOTHING) -> float:
    """Population stability index of ``actual`` against ``expected`` (counts per bin).

    PSI = sum over bins of (a - e) * ln(a / e), a and e the smoothed shares
    (:func:`smoothed_shares`). 0 means the same distribution; it is symmetric.

    Raises:
        ValueError: Different numbers of bins, or none.
    """
    if len(expected) != len(actual) or not len(expected):
        raise ValueError(f"PSI needs the same bins on both sides, got {len(expected)} and {len(actual)}")
    return float(_psi(smoothed_shares(expected, pseudo), smoothed_shares(actual, pseudo)))


def psi_p_value(
    expected: Sequence[float], actual: Sequence[float], *, draws: int = DRAWS, seed: int = 0
) -> float:
    """How often two samples of these sizes from one distribution (the pooled counts) reach this PSI.

    A parametric bootstrap: ``draws`` pairs of multinomial samples of the two
    sizes from the pooled shares, their PSI against the observed one; the
    add-one estimate (1 + hits) / (1 + draws). Seeded: the same counts give
    the same p-value.
    """
    e, a = np.asarray(expected, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    big_n, n = int(e.sum()), int(a.sum())
    if big_n == 0 or n == 0:
        return 1.0
    observed = float(_psi(smoothed_shares(e), smoothed_shares(a)))
    pooled = (e + a) / (e + a).sum()
    rng = np.random.default_rng(seed)
    null = _psi(
        smoothed_shares(rng.multinomial(big_n, pooled, size=draws)),  # (draws, k)
        smoothed_shares(rng.multinomial(n, pooled, size=draws)),
    )
    hits = int(np.count_nonzero(null >= observed - 1e-12))
    return (1 + hits) / (1 + draws)


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in log space (n in the thousands is fine)."""
    if k <= 0:
        return 1.0
    if k > n or p <= 0.0:
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
