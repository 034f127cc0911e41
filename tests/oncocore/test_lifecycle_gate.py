"""The promotion gate on hand values: pass, macro-F1 too low, each positive class's sensitivity too low, an absent class."""

from __future__ import annotations

import pytest

from oncocore.lifecycle_gate import gate_judge

POSITIVES = ["glioma", "meningioma", "pituitary"]


def metrics(macro_f1: float, **sensitivity: float) -> dict:
    per_class = {
        cls: {"sensitivity": sensitivity.get(cls, 0.90), "support": 20}
        for cls in ["glioma", "meningioma", "notumor", "pituitary"]
    }
    return {"macro_f1": macro_f1, "per_class": per_class}


def judge(champion: dict, candidate: dict, **kw):
    return gate_judge(
        champion=champion,
        candidate=candidate,
        positive_classes=POSITIVES,
        margin_macro_f1=kw.get("f1", 0.02),
        margin_sensitivity=kw.get("sens", 0.02),
        class_labels={"glioma": "Glioma"},
    )


def test_passes_within_the_margins_and_at_exactly_the_margin():
    verdict = judge(metrics(0.80, glioma=0.90), metrics(0.78, glioma=0.88))
    assert verdict.passed
    assert [c.name for c in verdict.checks] == [
        "macro_f1",
        "sensitivity:glioma",
        "sensitivity:meningioma",
        "sensitivity:pituitary",
    ]
    assert verdict.summary() == "passed all 4 checks"
    macro = verdict.checks[0]
    assert (macro.champion, macro.candidate, macro.margin) == (0.80, 0.78, 0.02)
    assert macro.difference == pytest.approx(-0.02)


def test_a_better_candidate_passes():
    assert judge(metrics(0.80), metrics(0.95, glioma=1.0)).passed


def test_fails_on_macro_f1_beyond_the_margin_and_says_why():
    verdict = judge(metrics(0.80), metrics(0.77))
    assert not verdict.passed
    (failure,) = verdict.failures
    assert failure.name == "macro_f1"
    assert failure.reason == "Macro-F1 0.770 is 0.030 below the champion's 0.800 (margin 0.020)"
    assert verdict.summary() == failure.reason


@pytest.mark.parametrize("cls", POSITIVES)
def test_fails_on_the_sensitivity_of_each_positive_class(cls):
    verdict = judge(metrics(0.80, **{cls: 0.90}), metrics(0.85, **{cls: 0.85}))
    assert not verdict.passed
    (failure,) = verdict.failures
    assert failure.name == f"sensitivity:{cls}"
    label = "Glioma" if cls == "glioma" else cls
    assert (
        failure.reason == f"Sensitivity of {label} 0.850 is 0.050 below the champion's 0.900 (margin 0.020)"
    )


def test_a_negative_class_is_not_gated():
    verdict = judge(metrics(0.80, notumor=0.95), metrics(0.80, notumor=0.50))
    assert verdict.passed
    assert "sensitivity:notumor" not in [c.name for c in verdict.checks]


def test_a_positive_class_absent_from_the_test_split_fails():
    champion, candidate = metrics(0.80), metrics(0.90)
    for side in (champion, candidate):
        side["per_class"]["pituitary"] = {"sensitivity": None, "support": 0}
    verdict = judge(champion, candidate)
    assert not verdict.passed
    (failure,) = verdict.failures
    assert failure.reason == "cannot judge sensitivity of pituitary: no test images"


def test_a_positive_class_missing_from_the_metrics_fails():
    champion, candidate = metrics(0.80), metrics(0.90)
    del champion["per_class"]["meningioma"], candidate["per_class"]["meningioma"]
    (failure,) = judge(champion, candidate).failures
    assert failure.reason == "cannot judge sensitivity of meningioma: no test images"


def test_a_missing_figure_fails():
    (failure,) = judge({"per_class": metrics(0.8)["per_class"]}, metrics(0.8)).failures
    assert failure.reason == "Macro-F1: no figure for the champion"


def test_wider_margins_let_a_worse_candidate_through():
    worse = metrics(0.75, glioma=0.84)
    assert not judge(metrics(0.80), worse).passed
    assert judge(metrics(0.80), worse, f1=0.05, sens=0.06).passed


def test_to_dict_keeps_the_figures_and_margins():
    d = judge(metrics(0.80), metrics(0.70)).to_dict()
    assert d["passed"] is False
    assert d["margins"] == {"macro_f1": 0.02, "sensitivity": 0.02}
    assert d["positive_classes"] == POSITIVES
    assert d["checks"][0]["name"] == "macro_f1" and d["checks"][0]["passed"] is False


def test_a_negative_margin_is_refused():
    with pytest.raises(ValueError):
        judge(metrics(0.8), metrics(0.8), f1=-0.01)
