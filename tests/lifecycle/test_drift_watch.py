"""Drift watch end to end: real images scored by the real brain model against its validation reference.

A stream of brain MRI images like the validation set raises no warning; a
stream of lung CT slices filed as brain cases raises it, on every Curator page.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from lifecycle.selectors_drift import drift_status, task_drift
from tests.lifecycle.drift_support import lung_ct_paths, reference_for, spread_paths, stream

pytestmark = [pytest.mark.django_db, pytest.mark.slow]
STREAM = 36  # above the 30 images a window needs


def _measures(drift) -> list[tuple]:
    return [(m.name, m.value, m.p_value, m.status) for m in drift.report.measures]


def test_brain_images_like_the_validation_set_raise_no_warning(
    client,
    curator,
    radiologist,
    site,
    brain_model,
    brain_validation_rows,
    django_capture_on_commit_callbacks,
    mocker,
):
    reference_for(brain_model)
    paths = spread_paths(brain_validation_rows, STREAM, offset=4)
    stream(paths, site=site, user=radiologist, capture=django_capture_on_commit_callbacks, mocker=mocker)

    drift = task_drift(task="brain_mri")
    assert drift.n == STREAM
    assert drift.status == "ok", _measures(drift)
    client.force_login(curator)
    page = client.get(reverse("curation:snapshots")).content.decode()
    assert "drift-banner" not in page
    drift_page = client.get(reverse("lifecycle:drift")).content.decode()
    assert 'id="task-brain_mri"' in drift_page and 'data-status="ok"' in drift_page
    assert "<svg" in drift_page and "drift-banner" not in drift_page


def test_lung_ct_slices_in_brain_cases_raise_the_warning_on_curator_pages(
    client, curator, radiologist, site, data_dir, brain_model, django_capture_on_commit_callbacks, mocker
):
    reference_for(brain_model)
    paths = lung_ct_paths(data_dir, STREAM)
    stream(paths, site=site, user=radiologist, capture=django_capture_on_commit_callbacks, mocker=mocker)

    drift = task_drift(task="brain_mri")
    assert drift.status == "drift", _measures(drift)
    moved = {m.name for m in drift.report.flagged if m.status == "drift"}
    assert "out_of_scope" in moved  # the suitability check turns most of them away
    assert moved & {"mean", "std", "dark"}  # and they look unlike brain MRI
    (status,) = drift_status()
    assert (status["task"], status["status"], status["n"]) == ("brain_mri", "drift", STREAM)
    assert "out-of-scope share" in status["moved"]
    client.force_login(curator)
    for url in (reverse("curation:snapshots"), reverse("retraining:jobs"), reverse("lifecycle:drift")):
        page = client.get(url).content.decode()
        assert 'class="alert alert-warn drift-banner"' in page and 'data-task="brain_mri"' in page, url
        assert "out-of-scope share" in page
