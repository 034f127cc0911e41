"""Agreement and paired-comparison statistics shared by evaluations, shadow runs and analytics.

Plain Python and numpy, no Django: McNemar's test for two classifiers scored on
the same images, Cohen's kappa between two readers (or a reader and the AI),
and per-class sensitivity and specificity from a confusion matrix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Below this many discordant pairs the exact binomial test is used, above it the
#: chi-square approximation with continuity correction (Edwards 1948).
MCNEMAR_EXACT_BELOW = 25


@dataclass(frozen=True)
class McNemar:
    """McNemar's test of two classifiers on the same items.

    Attributes:
        b: Items the first classifier got right and the second wrong.
        c: Items the second got right and the first wrong.
        statistic: The chi-square statistic (None for the exact test).
        p_value: Two-sided p-value of "both are equally often right".
        exact: Whether the exact binomial test was used.
    """

    b: int
    c: int
    statistic: float | None
    p_value: float
    exact: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "test": "mcnemar",
            "b": self.b,
            "c": self.c,
            "statistic": self.statistic,
            "p_value": self.p_value,
            "exact": self.exact,
        }


def mcnemar(b: int, c: int) -> McNemar:
    """McNemar's test from the two discordant counts (see :class:`McNemar`).

    With no discordant pair the classifiers never differ: p = 1.
    """
    if b < 0 or c < 0:
        raise ValueError("discordant counts must not be negative")
    n = b + c
    if n == 0:
        return McNemar(b, c, None, 1.0, True)
    if n < MCNEMAR_EXACT_BELOW:
        k = min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1)) / 2.0**n
        return McNemar(b, c, None, min(1.0, 2.0 * tail), True)
    statistic = (abs(b - c) - 1.0) ** 2 / n
    # Chi-square with one degree of freedom: P(X > x) = erfc(sqrt(x / 2)).
    return McNemar(b, c, statistic, math.erfc(math.sqrt(statistic / 2.0)), False)


def mcnemar_from_correct(first_correct: Sequence[bool], second_correct: Sequence[bool]) -> McNemar:
    """McNemar's test from per-item correctness of two classifiers on the same items."""
    if len(first_correct) != len(second_correct):
        raise ValueError("both classifiers must be scored on the same items")
    a = np.asarray(first_correct, dtype=bool)
    s = np.asarray(second_correct, dtype=bool)
    return mcnemar(int(np.sum(a & ~s)), int(np.sum(~a & s)))


def cohen_kappa(
    first: Sequence[str], second: Sequence[str], labels: Sequence[str] | None = None
) -> float | None:
    """Cohen's kappa between two raters' labels of the same items.

    Returns None for no items, and 1.0 when both raters agree perfectly on a
    single class (chance agreement 1: kappa is undefined; agreement is total).
    """
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    if not first:
        return None
    classes = list(labels) if labels is not None else sorted(set(first) | set(second))
    index = {name: i for i, name in enumerate(classes)}
    k = len(classes)
    table = np.zeros((k, k), dtype=np.float64)
    for x, y in zip(first, second, strict=True):
        table[index[x], index[y]] += 1
    n = table.sum()
    observed = np.trace(table) / n
    expected = float(np.sum(table.sum(axis=1) * table.sum(axis=0))) / n**2
    if expected >= 1.0:
        return 1.0 if observed >= 1.0 else 0.0
    return float((observed - expected) / (1.0 - expected))


def sensitivity_specificity(
    cm: np.ndarray | Sequence[Sequence[int]],
) -> list[tuple[float | None, float | None]]:
    """Per class (one-vs-rest), from a confusion matrix with true classes as rows: (sensitivity, specificity).

    A value is None when undefined (no item of the class, or no item of the others).
    """
    m = np.asarray(cm, dtype=np.float64)
    total = m.sum()
    out: list[tuple[float | None, float | None]] = []
    for i in range(m.shape[0]):
        tp = m[i, i]
        positives = m[i, :].sum()
        fp = m[:, i].sum() - tp
        negatives = total - positives
        sensitivity = float(tp / positives) if positives else None
        specificity = float((negatives - fp) / negatives) if negatives else None
        out.append((sensitivity, specificity))
    return out
