"""Champion against candidate against the final labels, checked against counts done by hand."""

from __future__ import annotations

import pytest

from oncocore.champion_challenger import NO_CLASS, compare, label_confusion, side_metrics
from oncocore.charts import confusion_svg

CLASSES = ["a", "b", "c"]
#        1    2    3    4    5    6    7    8
TRUTH = ["a", "a", "a", "b", "b", "c", "c", "b"]
CHAMP = ["a", "a", "b", "b", "c", "c", "c", "b"]  # wrong on 3 (a->b) and 5 (b->c)
CAND = ["a", "b", "a", "b", "b", "", "c", "b"]  # wrong on 2 (a->b) and 6 (no class)


def test_the_champion_side_by_hand():
    s = side_metrics(TRUTH, CHAMP, CLASSES)
    assert s["n"] == 8 and s["correct"] == 6 and s["accuracy"] == 0.75 and s["no_class"] == 0
    assert s["confusion_matrix"] == [[2, 1, 0], [0, 2, 1], [0, 0, 2]] and s["columns"] == CLASSES
    # F1: a 2*(1*2/3)/(1+2/3) = 0.8, b 2/3, c 0.8
    assert s["macro_f1"] == pytest.approx((0.8 + 2 / 3 + 0.8) / 3)
    per = s["per_class"]
    assert (per["a"]["sensitivity"], per["a"]["specificity"]) == pytest.approx((2 / 3, 1.0))
    assert (per["b"]["sensitivity"], per["b"]["specificity"]) == pytest.approx((2 / 3, 4 / 5))
    assert (per["c"]["sensitivity"], per["c"]["specificity"]) == pytest.approx((1.0, 5 / 6))
    assert [per[k]["support"] for k in CLASSES] == [3, 3, 2]


def test_no_class_is_a_miss_with_its_own_column_and_never_a_false_positive():
    s = side_metrics(TRUTH, CAND, CLASSES)
    assert s["columns"] == [*CLASSES, NO_CLASS] and s["no_class"] == 1
    assert s["confusion_matrix"] == [[2, 1, 0, 0], [0, 3, 0, 0], [0, 0, 1, 1]]
    assert s["accuracy"] == 0.75
    # F1: a 0.8, b 2*0.75/1.75, c 2*0.5/1.5
    assert s["macro_f1"] == pytest.approx((0.8 + 1.5 / 1.75 + 2 / 3) / 3)
    per = s["per_class"]
    assert (per["b"]["sensitivity"], per["b"]["specificity"]) == pytest.approx((1.0, 4 / 5))
    assert (per["c"]["sensitivity"], per["c"]["specificity"]) == pytest.approx((0.5, 1.0))


def test_agreement_kappa_and_mcnemar_by_hand():
    r = compare(TRUTH, CHAMP, CAND, CLASSES)
    assert r["n"] == 8 and r["difference"] == 0.0
    a = r["agreement"]
    assert a["same"] == 4 and a["share"] == 0.5 and a["names"] == [*CLASSES, NO_CLASS]
    assert a["confusion_matrix"] == [[1, 1, 0, 0], [1, 2, 0, 0], [0, 1, 1, 1], [0, 0, 0, 0]]
    # Expected agreement from the margins: rows 2,3,3,0 and columns 2,4,1,1 over 64.
    expected = (2 * 2 + 3 * 4 + 3 * 1) / 64
    assert a["kappa"] == pytest.approx((0.5 - expected) / (1 - expected))
    # Only the champion right on 2 and 6, only the candidate right on 3 and 5: exact, p = 1.
    assert r["mcnemar"] == {
        "test": "mcnemar",
        "b": 2,
        "c": 2,
        "statistic": None,
        "p_value": 1.0,
        "exact": True,
    }


def test_no_images_and_bad_input():
    r = compare([], [], [], CLASSES)
    assert r["n"] == 0 and r["champion"]["accuracy"] is None and r["difference"] is None
    assert r["champion"]["macro_f1"] is None and r["agreement"]["kappa"] is None
    with pytest.raises(ValueError, match="not one of the classes"):
        label_confusion(["z"], ["a"], CLASSES)
    with pytest.raises(ValueError, match="same images"):
        compare(["a"], ["a"], [], CLASSES)


def test_the_confusion_chart_is_inline_svg_with_counts_and_names_and_the_same_each_time():
    svg = confusion_svg([[2, 1, 0], [0, 2, 1], [0, 0, 2]], CLASSES, ["a", "b", "<c>"], title="Champion")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "Champion" in svg and "&lt;c&gt;" in svg and "<c>" not in svg  # escaped text
    assert "67%" in svg  # 2 of the 3 "a" images
    assert (
        confusion_svg([[2, 1, 0], [0, 2, 1], [0, 0, 2]], CLASSES, ["a", "b", "<c>"], title="Champion") == svg
    )
