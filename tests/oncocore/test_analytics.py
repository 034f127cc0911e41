"""oncocore.analytics against values computed by hand (docs/analytics.md)."""

from __future__ import annotations

from datetime import date

import pytest

from oncocore.analytics import (
    agreement_by_week,
    confusion_report,
    duration_summary,
    iso_week,
    reader_agreement,
    turnaround_by_week,
    weeks_between,
)
from oncocore.analytics_plots import agreement_svg, confusion_svg, sensitivity_specificity_svg, turnaround_svg

# (ai, final): final a -> ai a a a b; final b -> ai b b a c; final c -> ai c c.
PAIRS = [("a", "a")] * 3 + [("b", "a")] + [("b", "b")] * 2 + [("a", "b"), ("c", "b")] + [("c", "c")] * 2


def test_confusion_matrix_sensitivity_specificity_kappa_by_hand():
    report = confusion_report(PAIRS, ["a", "b", "c"])
    assert report.matrix == [[3, 1, 0], [1, 2, 1], [0, 0, 2]]  # rows final, columns AI
    assert (report.n, report.correct, report.accuracy) == (10, 7, pytest.approx(0.7))
    by_class = {c.name: c for c in report.per_class}
    # Sensitivity TP/(TP+FN): a 3/4, b 2/4, c 2/2. Specificity TN/(TN+FP): a 5/6, b 5/6, c 7/8.
    assert [by_class[x].sensitivity for x in "abc"] == pytest.approx([0.75, 0.5, 1.0])
    assert [by_class[x].specificity for x in "abc"] == pytest.approx([5 / 6, 5 / 6, 7 / 8])
    assert [(by_class[x].true, by_class[x].predicted) for x in "abc"] == [(4, 4), (4, 3), (2, 3)]
    # po = 0.7; pe = (4*4 + 4*3 + 2*3) / 100 = 0.34; kappa = 0.36 / 0.66.
    assert report.kappa == pytest.approx(0.36 / 0.66)
    assert report.row_shares()[1] == pytest.approx([0.25, 0.5, 0.25])


def test_a_class_without_images_is_undefined_and_unknown_labels_are_kept():
    report = confusion_report([("a", "a"), ("x", "a")], ["a", "b"])
    assert report.classes == ["a", "b", "x"]
    b = report.per_class[1]
    assert b.sensitivity is None and b.specificity == 1.0
    empty = confusion_report([], ["a", "b"])
    assert empty.n == 0 and empty.accuracy is None and empty.kappa is None
    assert all(c.sensitivity is None for c in empty.per_class)


def test_reader_kappa_counts_non_diagnostic_as_a_category():
    pairs = [("a", "a"), ("a", "b"), ("b", "b"), ("", ""), ("b", "a")]
    result = reader_agreement(pairs, ["a", "b"])
    # po = 3/5; both readers: a 2, b 2, '' 1 -> pe = 9/25; kappa = (0.6 - 0.36) / 0.64 = 0.375.
    assert (result.n, result.agreed, result.observed) == (5, 3, pytest.approx(0.6))
    assert result.kappa == pytest.approx(0.375)
    assert reader_agreement([]).kappa is None


def test_iso_weeks():
    assert iso_week(date(2025, 1, 1)) == "2025-W01"  # a Wednesday in week 1
    assert iso_week(date(2024, 12, 30)) == "2025-W01"  # its Monday belongs to 2025's first week
    assert iso_week(date(2021, 1, 3)) == "2020-W53"
    assert weeks_between(date(2025, 3, 5), date(2025, 3, 17)) == ["2025-W10", "2025-W11", "2025-W12"]
    assert weeks_between(date(2025, 3, 5), date(2025, 3, 4)) == []


def test_agreement_per_week_and_version():
    rows = [
        ("v1", "2025-W11", "a", "a"),
        ("v1", "2025-W10", "a", "a"),
        ("v1", "2025-W10", "a", "b"),
        ("v1", "2025-W10", "b", "b"),
        ("v2", "2025-W11", "a", "b"),
    ]
    series = agreement_by_week(rows)
    assert [(w.week, w.n, w.agreed) for w in series["v1"]] == [("2025-W10", 3, 2), ("2025-W11", 1, 1)]
    assert series["v1"][0].share == pytest.approx(2 / 3)
    assert [(w.week, w.share) for w in series["v2"]] == [("2025-W11", 0.0)]


def test_turnaround_median_and_p90_interpolate_linearly():
    hours = [1, 2, 3, 4, 10]
    summary = duration_summary([h * 3600 for h in hours])
    # p90: position 0.9 * (5 - 1) = 3.6 -> 4 + 0.6 * (10 - 4) = 7.6 hours.
    assert (summary.n, summary.median, summary.p90) == (5, 3 * 3600, pytest.approx(7.6 * 3600))
    assert duration_summary([]).median is None
    by_week = turnaround_by_week([("final", "W2", 5.0), ("final", "W1", 1.0), ("final", "W1", 3.0)])
    assert [(w, s.n, s.median) for w, s in by_week["final"]] == [("W1", 2, 2.0), ("W2", 1, 5.0)]


def test_figures_are_inline_svg_with_their_numbers_as_text():
    report = confusion_report(PAIRS, ["a", "b", "c"])
    svg = confusion_svg(report, ["Alpha", "Beta", "Gamma"], title="AI vs final")
    assert svg.startswith("<svg") and "<title>AI vs final</title>" in svg and "<?xml" not in svg
    assert "Alpha" in svg and "75%" in svg  # the 3 of 4 cell's share
    bars = sensitivity_specificity_svg(report, ["Alpha", "Beta", "Gamma"], title="bars")
    assert "0.83" in bars and "0.88" in bars  # 5/6 and 7/8
    line = agreement_svg(agreement_by_week([("v1", "2025-W10", "a", "a")]), ["2025-W10"], title="line")
    assert "2025-W10" in line and "v1" in line
    stages = turnaround_by_week([("final", "2025-W10", 1800.0), ("final", "2025-W11", 5400.0)])
    minutes = turnaround_svg(stages, {"final": "Upload to final"}, ["2025-W10", "2025-W11"], title="t")
    assert "minutes since upload" in minutes and "Upload to final median" in minutes
    stages = turnaround_by_week([("final", "2025-W10", 3 * 3600.0)])
    assert "hours since upload" in turnaround_svg(stages, {}, ["2025-W10"], title="t")
