"""oncocore.drift: input statistics, summaries, PSI by hand, the tests beside it, statuses and figures."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from oncocore.drift import (
    DEFAULT_EDGES,
    Observation,
    Thresholds,
    binomial_sf,
    compare,
    input_stats,
    psi,
    psi_p_value,
    smoothed_shares,
    summarize,
    summary_edges,
)
from oncocore.drift.plots import distributions_svg, weekly_psi_svg

CLASSES = ["a", "b"]


# --- PSI by hand -----------------------------------------------------------------
def test_psi_by_hand_without_smoothing():
    # e = (0.5, 0.5), a = (0.8, 0.2): 0.3 ln(1.6) + (-0.3) ln(0.4) = 0.14100 + 0.27489
    assert psi([50, 50], [80, 20], pseudo=0.0) == pytest.approx(0.41589, abs=1e-5)


def test_psi_by_hand_with_half_an_image_per_bin():
    # e = (50.5, 50.5) / 101 = (0.5, 0.5); a = (80.5, 20.5) / 101 = (0.79703, 0.20297)
    # 0.29703 ln(1.59406) - 0.29703 ln(0.40594) = 0.13850 + 0.26779
    assert psi([50, 50], [80, 20]) == pytest.approx(0.40629, abs=1e-4)


def test_psi_is_zero_for_equal_shares_symmetric_and_finite_on_empty_bins():
    assert psi([10, 20, 30], [20, 40, 60]) == pytest.approx(0.0, abs=0.01)  # same shares, other sizes
    assert psi([10, 0, 30], [0, 25, 5]) == pytest.approx(psi([0, 25, 5], [10, 0, 30]))
    assert math.isfinite(psi([100, 0], [0, 100]))
    np.testing.assert_allclose(smoothed_shares([0, 1]), [0.25, 0.75])


def test_psi_needs_the_same_bins():
    with pytest.raises(ValueError, match="same bins"):
        psi([1, 2], [1, 2, 3])


def test_binomial_tail_against_hand_values():
    # P(X >= 2), n = 30, p = 0.01: 1 - 0.99^30 - 30 * 0.01 * 0.99^29
    assert binomial_sf(2, 30, 0.01) == pytest.approx(1 - 0.99**30 - 30 * 0.01 * 0.99**29, rel=1e-9)
    assert binomial_sf(0, 30, 0.2) == 1.0 and binomial_sf(31, 30, 0.2) == 0.0
    assert binomial_sf(3000, 5000, 0.5) < 1e-40  # log space: no underflow to nonsense


def test_psi_p_value_calls_a_like_window_likely_and_a_moved_one_unlikely():
    reference = [100, 200, 150, 50]
    like = [6, 12, 9, 3]
    moved = [0, 2, 8, 20]
    assert psi_p_value(reference, like) > 0.5
    assert psi_p_value(reference, moved) < 0.001
    assert psi_p_value(reference, moved) == psi_p_value(reference, moved)  # seeded


# --- Input statistics and summaries -------------------------------------------
def test_input_stats_of_a_half_black_half_white_input():
    seen = np.zeros((1, 8, 8), np.uint8)
    seen[:, :, 4:] = 255
    stats = input_stats(np.zeros((300, 200), np.uint8), seen)
    assert stats == {"mean": 0.5, "std": 0.5, "dark": 0.5, "height": 300, "width": 200, "channels": 1}
    assert input_stats(np.zeros((10, 20, 3), np.uint8), seen)["channels"] == 3


def _obs(label="a", confidence=0.9, in_scope=True, mean=0.3):
    stats = {"mean": mean, "std": 0.2, "dark": 0.3, "height": 512, "width": 512, "channels": 1}
    return Observation(label, confidence, in_scope, stats)


def test_summarize_counts_classes_in_scope_and_image_stats_of_every_input():
    obs = [_obs("a"), _obs("b", 0.55), _obs("", None, False, mean=0.95), _obs("a", 0.75, None)]
    s = summarize(obs, class_names=CLASSES)
    assert s["n"] == 4
    assert s["classes"] == {"names": ["a", "b"], "counts": [2, 1]}
    assert s["scope"] == {"checked": 3, "out": 1}
    assert sum(s["hists"]["confidence"]["counts"]) == 3  # the out-of-scope input has none
    assert s["hists"]["confidence"]["counts"][5] == 1 and s["hists"]["confidence"]["counts"][9] == 1
    assert sum(s["hists"]["mean"]["counts"]) == 4 and s["hists"]["mean"]["counts"][9] == 1
    assert s["hists"]["height"]["edges"] == DEFAULT_EDGES["height"]


def test_values_beyond_the_edges_count_in_the_end_bins():
    s = summarize([_obs(mean=1.0), _obs(mean=-3)], class_names=CLASSES)
    assert s["hists"]["mean"]["counts"][0] == 1 and s["hists"]["mean"]["counts"][-1] == 1


# --- Statuses -------------------------------------------------------------------------
def _window(n, *, mean=0.3, out=0, label="a"):
    obs = [_obs(label if i % 2 == 0 else "b", 0.85, True, mean=mean) for i in range(n - out)]
    obs += [_obs("", None, False, mean=mean) for _ in range(out)]
    return obs


def _reference():
    return summarize(_window(400, out=4) + _window(100, mean=0.45), class_names=CLASSES)


def test_a_like_window_is_ok_and_a_moved_one_is_drift():
    ref = _reference()
    like = summarize(
        _window(32, out=0) + _window(8, mean=0.45), class_names=CLASSES, edges=summary_edges(ref)
    )
    assert compare(ref, like).status == "ok"
    moved = summarize(_window(40, mean=0.85), class_names=CLASSES, edges=summary_edges(ref))
    report = compare(ref, moved)
    assert report.status == "drift"
    assert [m.name for m in report.flagged] == ["mean"]
    assert report.measure("mean").value > Thresholds().psi_drift


def test_out_of_scope_excess_is_drift():
    ref = _reference()
    report = compare(ref, summarize(_window(40, out=12), class_names=CLASSES))
    oos = report.measure("out_of_scope")
    assert oos.status == "drift" and oos.value == pytest.approx(12 / 40 - 4 / 500, abs=1e-4)
    assert report.status == "drift"


def test_too_few_images_say_nothing():
    ref = _reference()
    report = compare(ref, summarize(_window(29, mean=0.95, out=20), class_names=CLASSES))
    assert report.status == "too_few"
    assert all(m.status == "too_few" for m in report.measures)


def test_windows_on_other_bins_or_classes_are_refused():
    ref = _reference()
    with pytest.raises(ValueError, match="classes"):
        compare(ref, summarize(_window(40), class_names=["a", "b", "c"]))
    with pytest.raises(ValueError, match="edges"):
        compare(ref, summarize(_window(40), class_names=CLASSES, edges={"mean": [0, 0.5, 1]}))


def test_false_alarm_rate_of_windows_drawn_from_the_reference_itself():
    """Windows of 30 drawn from the reference's own shares: drift well under 2 % of the time."""
    ref = _reference()
    rng = np.random.default_rng(7)
    drifts = 0
    for _ in range(100):
        window = {**ref, "n": 30, "scope": {"checked": 30, "out": int(rng.binomial(30, 4 / 500))}}
        shares = np.asarray(ref["classes"]["counts"], float)
        window["classes"] = {"names": CLASSES, "counts": rng.multinomial(30, shares / shares.sum()).tolist()}
        window["hists"] = {
            name: {
                "edges": h["edges"],
                "counts": rng.multinomial(30, np.asarray(h["counts"]) / sum(h["counts"])).tolist(),
            }
            for name, h in ref["hists"].items()
        }
        drifts += compare(ref, window).status == "drift"
    assert drifts <= 2


# --- Figures --------------------------------------------------------------------------
def test_figures_are_well_formed_svg_with_escaped_labels():
    ref = summarize(_window(100), class_names=["a<b", "b"])
    report = compare(ref, summarize(_window(40, mean=0.9, label="a<b"), class_names=["a<b", "b"]))
    svg = distributions_svg(report.measures)
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and "a&lt;b" in svg
    weekly = weekly_psi_svg(
        ["2026-W47", "2026-W48"], {"mean": [None, 0.4], "classes": [0.05, 0.1]}, Thresholds()
    )
    assert ET.fromstring(weekly).tag.endswith("svg")
