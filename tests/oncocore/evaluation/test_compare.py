"""The comparison's figures against values worked out by hand on six images."""

from __future__ import annotations

import math

import numpy as np
import pytest

from oncocore.evaluation.compare import compare_results, comparison_rows, paired_verdict, results_arrays
from oncocore.evaluation.figures import all_svgs

CLASSES = ["a", "b", "c"]
TARGETS = ["a", "a", "b", "b", "c", "c"]
CHAMPION_PREDS = ["a", "a", "b", "c", "c", "a"]  # right, right, right, wrong, right, wrong
CANDIDATE_PREDS = ["a", "b", "b", "b", "c", "c"]  # right, wrong, right, right, right, right


def probs_for(preds: list[str], top: float = 0.8) -> np.ndarray:
    rest = (1.0 - top) / (len(CLASSES) - 1)
    out = np.full((len(preds), len(CLASSES)), rest)
    for row, name in enumerate(preds):
        out[row, CLASSES.index(name)] = top
    return out


@pytest.fixture
def results() -> dict:
    return compare_results(
        class_names=CLASSES,
        image_ids=[11, 12, 13, 14, 15, 16],
        targets=TARGETS,
        candidate_probs=probs_for(CANDIDATE_PREDS),
        candidate_label="cand@2",
        champion_probs=probs_for(CHAMPION_PREDS, top=0.6),
        champion_label="champ@1 + other@1",
    )


def test_confusion_matrices_and_accuracy_by_hand(results):
    cand, champ = (results["sides"][s]["metrics"] for s in ("candidate", "champion"))
    # Rows are the true class, columns the prediction.
    assert cand["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 0, 2]]
    assert champ["confusion_matrix"] == [[2, 0, 0], [0, 1, 1], [1, 0, 1]]
    assert cand["accuracy"] == pytest.approx(5 / 6)
    assert champ["accuracy"] == pytest.approx(4 / 6)
    assert results["sides"]["candidate"]["label"] == "cand@2"
    assert results["sides"]["champion"]["label"] == "champ@1 + other@1"
    assert (results["n"], results["split"], results["class_names"]) == (6, "test", CLASSES)


def test_sensitivity_and_specificity_per_class_by_hand(results):
    cand = results["sides"]["candidate"]["metrics"]["per_class"]
    champ = results["sides"]["champion"]["metrics"]["per_class"]
    # Candidate: a: 1 of 2 found, no false a; b: 2 of 2, one a called b (3 of 4 negatives right); c: perfect.
    assert (cand["a"]["sensitivity"], cand["a"]["specificity"]) == (0.5, 1.0)
    assert (cand["b"]["sensitivity"], cand["b"]["specificity"]) == (1.0, 0.75)
    assert (cand["c"]["sensitivity"], cand["c"]["specificity"]) == (1.0, 1.0)
    # Champion: a: 2 of 2, one c called a; b: 1 of 2, none false; c: 1 of 2, one b called c.
    assert (champ["a"]["sensitivity"], champ["a"]["specificity"]) == (1.0, 0.75)
    assert (champ["b"]["sensitivity"], champ["b"]["specificity"]) == (0.5, 1.0)
    assert (champ["c"]["sensitivity"], champ["c"]["specificity"]) == (0.5, 0.75)
    # classification_metrics' own fields are still there.
    assert cand["a"]["support"] == 2 and cand["a"]["recall"] == 0.5


def test_mcnemar_counts_champion_right_candidate_wrong_as_b(results):
    paired = results["paired"]
    # b: image 12 (champion right, candidate wrong); c: images 14 and 16.
    assert (paired["b"], paired["c"]) == (1, 2)
    assert paired["b_means"] == "champion right, candidate wrong"
    # Exact two-sided binomial, n=3, k=min(b, c)=1: 2 * (C(3,0) + C(3,1)) / 2^3 = 1, capped at 1.
    assert paired["exact"] is True and paired["statistic"] is None
    assert paired["p_value"] == pytest.approx(1.0)
    assert paired["test"] == "mcnemar"
    assert paired_verdict(paired).startswith("The difference is not significant at p<0.05: b=1")


def test_mcnemar_chi_square_when_many_discordant_pairs():
    # 40 images: 10 only the champion gets right (b), 25 only the candidate (c), 5 both.
    targets = ["a"] * 40
    champ = ["a"] * 10 + ["b"] * 25 + ["a"] * 5
    cand = ["b"] * 10 + ["a"] * 25 + ["a"] * 5
    results = compare_results(
        class_names=CLASSES,
        image_ids=list(range(40)),
        targets=targets,
        candidate_probs=probs_for(cand),
        candidate_label="cand@2",
        champion_probs=probs_for(champ),
        champion_label="champ@1",
    )
    paired = results["paired"]
    assert (paired["b"], paired["c"], paired["exact"]) == (10, 25, False)
    # (|b - c| - 1)^2 / (b + c) = 14^2 / 35 = 5.6; P(chi2_1 > 5.6) = erfc(sqrt(2.8)) = 0.01796.
    assert paired["statistic"] == pytest.approx(5.6)
    assert paired["p_value"] == pytest.approx(math.erfc(math.sqrt(2.8)))
    assert paired["p_value"] == pytest.approx(0.01796, abs=1e-5)
    verdict = paired_verdict(paired)
    assert verdict.startswith("The difference is significant at p<0.05 (the candidate is right more often)")
    assert "b=10" in verdict and "c=25" in verdict


def test_items_keep_each_image_with_both_sides_probabilities(results):
    assert [i["image_id"] for i in results["items"]] == [11, 12, 13, 14, 15, 16]
    first = results["items"][0]
    assert first["target"] == "a"
    assert first["candidate"] == pytest.approx([0.8, 0.1, 0.1])
    assert first["champion"] == pytest.approx([0.6, 0.2, 0.2])
    targets, probs = results_arrays(results)
    assert targets.tolist() == [0, 0, 1, 1, 2, 2]
    assert set(probs) == {"candidate", "champion"} and probs["candidate"].shape == (6, 3)


def test_without_a_champion_there_is_no_paired_test():
    results = compare_results(
        class_names=CLASSES,
        image_ids=[1, 2],
        targets=["a", "b"],
        candidate_probs=probs_for(["a", "c"]),
        candidate_label="cand@2",
    )
    assert set(results["sides"]) == {"candidate"} and "paired" not in results
    assert set(results["items"][0]) == {"image_id", "target", "candidate"}
    assert paired_verdict(results.get("paired")).startswith("No paired test")
    rows = comparison_rows(results)
    assert rows[0]["label"] == "Accuracy" and rows[0]["champion"] is None and rows[0]["delta"] is None


def test_comparison_rows_say_which_side_is_better(results):
    rows = {r["label"]: r for r in comparison_rows(results)}
    assert rows["Accuracy"]["delta"] == pytest.approx(1 / 6) and rows["Accuracy"]["better"] == "candidate"
    assert rows["a: sensitivity"]["better"] == "champion"  # 0.5 against 1.0
    assert rows["c: specificity"]["better"] == "candidate"  # 1.0 against 0.75
    # ECE: lower is better.
    ece = rows["ECE (expected calibration error)"]
    expected = "candidate" if ece["candidate"] < ece["champion"] else "champion"
    assert ece["better"] == expected
    assert list(rows)[:5] == [
        "Accuracy",
        "Macro-F1",
        "Balanced accuracy",
        "AUC (macro, one-vs-rest)",
        "ECE (expected calibration error)",
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"targets": ["a", "z"]}, "not among the classes"),
        ({"candidate_probs": np.full((2, 2), 0.5)}, "shape"),
        ({"image_ids": [], "targets": [], "candidate_probs": np.zeros((0, 3))}, "no images"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    args = {
        "class_names": CLASSES,
        "image_ids": [1, 2],
        "targets": ["a", "b"],
        "candidate_probs": probs_for(["a", "b"]),
        "candidate_label": "cand@2",
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        compare_results(**args)


def test_figures_are_inline_svg_naming_both_models_and_every_class(results):
    svgs = all_svgs(results)
    assert set(svgs) == {"confusion", "roc", "reliability"}
    for svg in svgs.values():
        assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "cand@2" in svgs["confusion"] and "champ@1 + other@1" in svgs["confusion"]
    for name in CLASSES:
        assert name in svgs["roc"]
    assert "ECE" in svgs["reliability"]
