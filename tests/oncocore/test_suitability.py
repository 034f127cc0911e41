"""The input suitability check (oncocore.suitability): fitting, storing in a bundle, scoring in the predictor."""

from __future__ import annotations

import json

import numpy as np
import pytest

from oncocore.model_card import BundleIntegrityError
from oncocore.predictor import Predictor
from oncocore.registry import load_card, make_random_bundle
from oncocore.study_result import ImageOutcome, study_finding
from oncocore.suitability import FILE, fit_check, load_check, save_check

from .helpers import BRAIN_CLASSES, synthetic_rgb, synthetic_scan


def clusters(n: int, seed: int, dim: int = 16, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Two tight classes around fixed directions (plus ``shift`` on the last axis), and their labels."""
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[:2] * 5.0
    centres[:, -1] += shift
    labels = rng.integers(0, 2, n)
    return centres[labels] + rng.normal(0, 0.3, (n, dim)), labels


def test_the_threshold_flags_at_most_the_share_asked_of_the_validation_images():
    train, labels = clusters(400, 0)
    val, _ = clusters(200, 1)
    check = fit_check(train, labels, val, ["a", "b"], max_flagged=0.02)
    assert (check.scores(val) > check.threshold).mean() <= 0.02
    assert (check.ratios(val) > 1.0).sum() == (check.scores(val) > check.threshold).sum()


def test_the_score_is_the_mahalanobis_distance_to_the_nearest_class_mean():
    """Each view's distance, written out pair by pair, against the batched BLAS form the check uses."""
    from oncocore.suitability import VIEWS, _view

    train, labels = clusters(300, 0, dim=24)
    check = fit_check(train, labels, clusters(100, 1, dim=24)[0], ["a", "b"])
    x = np.random.default_rng(2).normal(0, 3, (7, 24))
    logs = []
    for v in VIEWS:
        f, means, precision = _view(x, v), check.means[v], check.precision[v]
        nearest = [min(float((r - m) @ precision @ (r - m)) for m in means) for r in f]
        logs.append(np.log(nearest))
    np.testing.assert_allclose(check.scores(x), np.exp(np.mean(logs, axis=0)), rtol=1e-10)


def test_features_unlike_the_training_ones_are_outside_the_scope():
    train, labels = clusters(400, 0)
    val, _ = clusters(200, 1)
    check = fit_check(train, labels, val, ["a", "b"])
    rng = np.random.default_rng(2)
    elsewhere = np.abs(rng.normal(0, 1, (100, 16))) + np.eye(16)[5] * 5  # another direction altogether
    assert (check.ratios(elsewhere) > 1.0).mean() == 1.0
    assert (check.ratios(val) > 1.0).mean() <= 0.01


def test_fitting_needs_every_class():
    train, _ = clusters(50, 0)
    with pytest.raises(ValueError, match="every class"):
        fit_check(train, np.zeros(50, dtype=int), train, ["a", "b"])


def _bundle_with_check(tmp_path, *, reject_all: bool):
    """A random 1-channel bundle with a check fitted on synthetic scans' features (threshold forced if asked)."""
    bundle = tmp_path / "bundle"
    card = make_random_bundle(bundle, task="brain_mri", class_names=BRAIN_CLASSES, input_size=32)
    plain = Predictor(bundle, device="cpu", suitability=False)
    scans = [synthetic_scan(seed=s) for s in range(12)]
    feats = plain.features(scans)
    check = fit_check(feats, np.arange(12) % 4, feats, BRAIN_CLASSES)
    if reject_all:
        check = type(check)(check.means, check.precision, 1e-12, check.class_names)
    save_check(bundle, card, check, {"fitted_on": "synthetic scans"})
    return bundle, scans


def test_a_bundle_keeps_its_check_and_the_predictor_scores_every_image(tmp_path):
    bundle, scans = _bundle_with_check(tmp_path, reject_all=False)
    card = load_card(bundle)
    assert card.suitability is not None and card.suitability["file"] == FILE
    assert (bundle / FILE).is_file()
    predictor = Predictor(bundle, device="cpu")
    results = predictor.predict_batch(scans[:3], saliency=True) + predictor.predict_batch(
        scans[3:5], saliency=False
    )
    assert all(r.in_scope is not None and r.scope_ratio is not None for r in results)
    assert all(r.in_scope == (r.scope_ratio <= 1.0) for r in results)


def test_outside_the_scope_the_result_says_so(tmp_path):
    bundle, scans = _bundle_with_check(tmp_path, reject_all=True)
    (r,) = Predictor(bundle, device="cpu").predict_batch([scans[0]])
    assert r.in_scope is False and r.scope_ratio is not None and r.scope_ratio > 1.0
    assert set(r.probabilities) == set(BRAIN_CLASSES)  # kept for audit


def test_a_bundle_without_a_check_reports_no_check(tmp_path):
    bundle = tmp_path / "plain"
    make_random_bundle(bundle, task="histology", class_names=["a", "b", "c"], channels=3, input_size=32)
    assert "suitability" not in json.loads((bundle / "model.json").read_text())
    (r,) = Predictor(bundle, device="cpu").predict_batch([synthetic_rgb()])
    assert r.in_scope is None and r.scope_ratio is None


def test_a_swapped_check_file_is_refused(tmp_path):
    bundle, _ = _bundle_with_check(tmp_path, reject_all=False)
    (bundle / FILE).write_bytes((bundle / FILE).read_bytes() + b" ")
    with pytest.raises(BundleIntegrityError):
        load_check(bundle, load_card(bundle))


def test_an_image_outside_the_scope_is_never_the_finding():
    tumour = {"glioma": 0.9, "meningioma": 0.05, "notumor": 0.03, "pituitary": 0.02}
    healthy = {"glioma": 0.1, "meningioma": 0.1, "notumor": 0.7, "pituitary": 0.1}
    outside = ImageOutcome(1, "", None, tumour, 0.2, in_scope=False)
    inside = ImageOutcome(2, "notumor", 0.7, healthy, 0.5, in_scope=True)
    tumours = frozenset({"glioma", "meningioma", "pituitary"})
    finding = study_finding([outside, inside], tumours)
    assert (finding.label, finding.positive, finding.key_image_id) == ("notumor", False, 2)
    assert finding.ranked_image_ids == (2,) and finding.out_of_scope == 1 and not finding.all_out_of_scope
    alone = study_finding([outside], tumours)
    assert alone.all_out_of_scope and alone.label == "" and not alone.positive and alone.key_image_id is None


def test_whitened_and_plain_distances_agree_and_a_precision_that_is_not_positive_definite_falls_back():
    from oncocore.suitability import _nearest, _whitened

    rng = np.random.default_rng(5)
    a = rng.normal(size=(40, 40))
    precision = np.linalg.inv(a @ a.T / 40 + np.eye(40))
    x, means = rng.normal(size=(9, 40)), rng.normal(size=(3, 40))
    whitened = _whitened(means, precision)
    assert whitened is not None
    np.testing.assert_allclose(
        _nearest(x, means, precision, whitened), _nearest(x, means, precision, None), rtol=1e-10
    )
    assert _whitened(means, -precision) is None
