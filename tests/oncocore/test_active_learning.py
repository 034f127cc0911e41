"""oncocore.active_learning against values computed by hand."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from oncocore.active_learning import (
    ImageResult,
    Member,
    Strategy,
    margin,
    member_disagreement,
    normalised_entropy,
    pair_disagreement,
    rank_cases,
    reasons,
    score_image,
    strategy_score,
)

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def binary(p: float) -> dict[str, float]:
    return {"benign": p, "malignant": round(1 - p, 10)}


def result(case_id: int, image_id: int, p: float, *, age: int = 0, **extra: Any) -> ImageResult:
    """An image of case ``case_id`` (created ``age`` minutes after T0) with P(benign) = p."""
    return ImageResult(
        image_id=image_id,
        case_id=case_id,
        case_created=T0 + timedelta(minutes=age),
        probabilities=binary(p),
        **extra,
    )


def test_entropy_and_margin_by_hand():
    # H(0.9, 0.1) = 0.9 ln(1/0.9) + 0.1 ln 10 = 0.094824 + 0.230259 = 0.325083 nats; / ln 2 = 0.468996.
    assert normalised_entropy(binary(0.9)) == pytest.approx(0.468996, abs=1e-6)
    assert normalised_entropy(binary(0.5)) == pytest.approx(1.0)
    assert normalised_entropy({"a": 1.0, "b": 0.0, "c": 0.0}) == pytest.approx(0.0)
    assert margin({"a": 0.5, "b": 0.3, "c": 0.2}) == pytest.approx(0.2)
    assert margin({"a": 1.0}) == 1.0


def test_uncertainty_score_uses_stored_uncertainty_and_margin():
    # U = (entropy + 1 - margin) / 2: stored 0.8, margin 0.9 - 0.1 = 0.8 -> (0.8 + 0.2) / 2 = 0.5.
    scored = score_image(result(1, 1, 0.9, uncertainty=0.8), Strategy.UNCERTAINTY)
    assert scored.score == pytest.approx(0.5)
    # Without a stored figure it is computed: (0.468996 + 0.2) / 2 = 0.334498.
    assert score_image(result(1, 1, 0.9), Strategy.UNCERTAINTY).score == pytest.approx(0.334498, abs=1e-6)


def test_member_disagreement_by_hand():
    # Opposite certain members, equal weights: JSD = ln 2, ceiling min(ln 2, H(w) = ln 2): 1.
    assert member_disagreement([Member(binary(1.0)), Member(binary(0.0))], ["benign", "malignant"]) == (
        pytest.approx(1.0)
    )
    # (0.8, 0.2) and (0.4, 0.6), mean (0.6, 0.4): KL = 0.091516 and 0.081093, JSD 0.086305 nats; / ln 2.
    d = member_disagreement([Member(binary(0.8)), Member(binary(0.4))], ["benign", "malignant"])
    assert d == pytest.approx(0.086305 / math.log(2), abs=1e-5)
    assert d == pytest.approx(0.124511, abs=1e-5)
    # Weights are normalised: 3:3 is 1:1.
    same = member_disagreement([Member(binary(0.8), 3.0), Member(binary(0.4), 3.0)], ["benign", "malignant"])
    assert same == pytest.approx(d)
    # Agreeing members, or a single model: nothing / not measurable.
    assert member_disagreement([Member(binary(0.7)), Member(binary(0.7))], ["benign", "malignant"]) == 0.0
    assert member_disagreement([Member(binary(0.7))], ["benign", "malignant"]) is None


def test_stored_disagreement_is_the_fallback_over_log_k():
    scored = score_image(result(1, 1, 0.7, stored_disagreement=0.3), Strategy.DISAGREEMENT)
    assert scored.members == pytest.approx(0.3 / math.log(2))
    assert scored.score == pytest.approx(0.3 / math.log(2))


def test_challenger_disagreement_and_combined_by_hand():
    # Champion (0.7, 0.3), challenger (0.2, 0.8), mean (0.45, 0.55):
    # KL = 0.127442 and 0.137569 -> JSD 0.132506 nats, / ln 2 = 0.191165.
    assert pair_disagreement(binary(0.7), binary(0.2)) == pytest.approx(0.191165, abs=1e-5)
    scored = score_image(result(1, 1, 0.7, challenger=binary(0.2)), Strategy.COMBINED)
    assert scored.challenger == pytest.approx(0.191165, abs=1e-5)
    assert scored.challenger_label == "malignant" and scored.label == "benign"
    # U = (H(0.7, 0.3) / ln 2 + 1 - 0.4) / 2 = (0.881291 + 0.6) / 2 = 0.740646;
    # combined = 1 - (1 - 0.740646)(1 - 0.191165) = 0.790225.
    assert scored.score == pytest.approx(0.790225, abs=1e-5)
    # With no disagreement measured, combined is the uncertainty score.
    plain = score_image(result(1, 1, 0.7), Strategy.COMBINED)
    assert plain.score == pytest.approx(0.740646, abs=1e-5)
    assert score_image(result(1, 1, 0.7), Strategy.DISAGREEMENT).score == 0.0


def test_rank_by_uncertainty_case_takes_its_highest_image():
    queue = rank_cases(
        [
            result(1, 10, 0.9, age=0),  # U = 0.3345
            result(2, 20, 0.6, age=1),  # H = 0.970951 -> U = (0.970951 + 0.8) / 2 = 0.885475
            result(3, 30, 0.95, age=2),
            result(3, 31, 0.55, age=2),  # H = 0.992774 -> U = 0.946387: case 3's score
        ],
        Strategy.UNCERTAINTY,
    )
    assert [c.case_id for c in queue.cases] == [3, 2, 1]
    assert queue.cases[0].top.image_id == 31 and queue.cases[0].images == 2
    assert queue.cases[0].score == pytest.approx(0.946387, abs=1e-5)
    assert queue.cases[1].score == pytest.approx(0.885475, abs=1e-5)
    assert queue.out_of_scope == []


def test_ties_go_to_the_oldest_case_then_lowest_ids():
    queue = rank_cases(
        [result(7, 70, 0.8, age=5), result(5, 50, 0.8, age=9), result(6, 60, 0.8, age=5)],
        Strategy.UNCERTAINTY,
    )
    assert [c.case_id for c in queue.cases] == [6, 7, 5]
    # Within a case, equal images: the lower image id is the one shown.
    one = rank_cases([result(1, 12, 0.8), result(1, 11, 0.8)], Strategy.UNCERTAINTY)
    assert one.cases[0].top.image_id == 11


def test_out_of_scope_images_are_not_candidates_and_such_cases_are_listed_apart():
    queue = rank_cases(
        [
            result(1, 10, 0.9),
            result(1, 11, 0.5, in_scope=False),  # the most "uncertain", but outside the scope
            result(2, 20, 0.5, in_scope=False, age=1),
            result(3, 30, 0.5, in_scope=False, age=2),
        ],
        Strategy.UNCERTAINTY,
    )
    assert [c.case_id for c in queue.cases] == [1]
    assert queue.cases[0].top.image_id == 10 and queue.cases[0].images == 1
    assert queue.out_of_scope == [2, 3]


def test_strategies_order_differently():
    members_apart = [Member(binary(0.95)), Member(binary(0.45))]  # mean 0.7
    images = [
        result(1, 10, 0.55),  # a near tie, one model
        result(2, 20, 0.7, members=members_apart),
    ]
    by_uncertainty = rank_cases(images, "uncertainty")
    by_disagreement = rank_cases(images, "disagreement")
    assert [c.case_id for c in by_uncertainty.cases] == [1, 2]
    assert [c.case_id for c in by_disagreement.cases] == [2, 1]
    top = by_disagreement.cases[0].top
    assert reasons(top)[0][0] in {"uncertain", "members"}
    assert dict(reasons(top))["members"] == pytest.approx(top.members)


def test_reasons_can_leave_the_challenger_out():
    scored = score_image(result(1, 1, 0.9, challenger=binary(0.1)), Strategy.COMBINED)
    assert "challenger" in dict(reasons(scored))
    assert "challenger" not in dict(reasons(scored, with_challenger=False))


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        strategy_score("loudest", entropy=0.5, margin_=0.5, disagreement=0.0)
    with pytest.raises(ValueError):
        rank_cases([], "loudest")
