"""oncocore.stats against values computed by hand."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncocore.stats import cohen_kappa, mcnemar, mcnemar_from_correct, sensitivity_specificity


def test_mcnemar_exact_small_counts():
    # b=1, c=6, n=7: P(X<=1) = (1 + 7) / 128, two-sided 16/128.
    result = mcnemar(1, 6)
    assert result.exact and result.statistic is None
    assert result.p_value == pytest.approx(16 / 128)


def test_mcnemar_chi_square_with_continuity_correction():
    # b=10, c=30: (|10-30| - 1)^2 / 40 = 9.025; p = erfc(sqrt(9.025 / 2)).
    result = mcnemar(10, 30)
    assert not result.exact
    assert result.statistic == pytest.approx(9.025)
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(9.025 / 2)))
    assert result.p_value == pytest.approx(0.002663, abs=1e-5)


def test_mcnemar_no_discordant_pairs_and_symmetry():
    assert mcnemar(0, 0).p_value == 1.0
    assert mcnemar(3, 5).p_value == mcnemar(5, 3).p_value
    assert mcnemar(4, 4).p_value == 1.0
    with pytest.raises(ValueError):
        mcnemar(-1, 2)


def test_mcnemar_from_correctness_counts_discordant_items():
    first = [True, True, False, False, True]
    second = [True, False, True, True, True]
    result = mcnemar_from_correct(first, second)
    assert (result.b, result.c) == (1, 2)


def test_cohen_kappa_by_hand():
    # 2x2 table [[20, 5], [10, 15]]: po = 35/50 = 0.7; pe = (25*30 + 25*20) / 2500 = 0.5; kappa 0.4.
    first = ["a"] * 25 + ["b"] * 25
    second = ["a"] * 20 + ["b"] * 5 + ["a"] * 10 + ["b"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert cohen_kappa([], []) is None
    assert cohen_kappa(["a", "a"], ["a", "a"]) == 1.0


@given(st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=40))
def test_cohen_kappa_of_identical_labels_is_one(labels):
    assert cohen_kappa(labels, labels) == pytest.approx(1.0)


def test_sensitivity_specificity_by_hand():
    cm = [[8, 2, 0], [1, 6, 3], [0, 0, 10]]
    (s0, p0), (s1, p1), (s2, p2) = sensitivity_specificity(cm)
    assert s0 == pytest.approx(0.8) and p0 == pytest.approx(19 / 20)
    assert s1 == pytest.approx(0.6) and p1 == pytest.approx(18 / 20)
    assert s2 == pytest.approx(1.0) and p2 == pytest.approx(17 / 20)
    assert sensitivity_specificity([[0, 0], [0, 3]])[0] == (None, 1.0)
