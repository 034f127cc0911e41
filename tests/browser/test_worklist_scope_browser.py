"""An image outside the model's scope, in Chromium: the worklist and the viewer say so instead of a class.

The shipped brain MRI model scores, through the real pipeline, a brain MRI
slice and a lung histology tile uploaded as a brain MRI case. Its input
suitability check (oncocore.suitability) puts the tile outside its scope:
no class on the worklist row, on the study result or in the viewer's AI panel.
"""

from __future__ import annotations

from unittest import mock

import pytest

from tests.browser.support import log_in

# Serialized rollback like every other browser test here, so the suite's order stays valid (tests/conftest.py).
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

REPO_BUNDLE = "inference/bundles/brain_mri-lite0"
BRAIN = "brain_mri/train/meningioma/meningioma_001d1f5dcaf3.jpg"
TILE = "histo_lung/train/lung_benign/lungn1000.jpg"
OUTSIDE = "Outside the model's scope"


@pytest.fixture
def scored_cases(data_dir, site, radiologist):
    from pathlib import Path

    from cases.models import Case, Task
    from cases.services.intake import intake_sources
    from inference.models import Prediction
    from inference.pipeline import predictions_run
    from inference.services import model_version_activate, model_version_register, prediction_request

    report = intake_sources(
        uploads=[(Path(p).name, (data_dir / p).read_bytes()) for p in (BRAIN, TILE)],
        site=site,
        user=radiologist,
        source="web",
        task=Task.BRAIN_MRI,
    )
    assert len(report.case_ids) == 2
    root = Path(__file__).resolve().parents[2]
    version, _ = model_version_register(bundle_dir=root / REPO_BUNDLE)
    model_version_activate(version=version)
    cases = list(Case.objects.filter(pk__in=report.case_ids))
    with mock.patch("inference.services.run_predictions.delay"):
        ids = [p.pk for case in cases for p in prediction_request(case=case)]
    assert predictions_run(prediction_ids=ids) == 2  # what the worker does
    brain = next(c for c in cases if Prediction.objects.get(image__case=c).in_scope)
    tile = next(c for c in cases if c.pk != brain.pk)
    return Case.objects.get(pk=brain.pk), Case.objects.get(pk=tile.pk)


def test_an_out_of_scope_image_shows_no_class_in_the_worklist_and_the_viewer(
    page, live_server, radiologist, scored_cases, artifacts
):
    brain, tile = scored_cases
    prediction = tile.images.get().predictions.get()
    assert prediction.in_scope is False and prediction.label == "" and prediction.scope_ratio > 1
    assert prediction.probabilities  # kept for audit
    assert tile.ai_outside_scope and tile.ai_label == "" and not tile.ai_positive
    assert brain.ai_label == "meningioma" and not brain.ai_outside_scope

    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, live_server.url, radiologist)
    ai_tile = page.locator(f'tr[data-case-id="{tile.pk}"] [data-field="ai"]').inner_text()
    ai_brain = page.locator(f'tr[data-case-id="{brain.pk}"] [data-field="ai"]').inner_text()
    assert ai_tile.strip() == OUTSIDE
    # An unread row names the AI's result as such, by the class's readable name (issue 23 items 5, 6).
    assert ai_brain.startswith("AI Meningioma"), ai_brain
    page.screenshot(path=str(artifacts / "worklist-out-of-scope.png"))

    page.goto(f"{live_server.url}/cases/{tile.pk}/")
    assert OUTSIDE in page.locator("#study-result-heading").inner_text()
    panel = page.locator(f"#prediction-{prediction.pk}")
    assert OUTSIDE in panel.inner_text()
    assert "meningioma" not in panel.inner_text().lower()  # the model's top class is never shown as a finding
    assert panel.locator(".prob-bars").count() == 0
    page.screenshot(path=str(artifacts / "viewer-out-of-scope.png"), full_page=True)
    assert errors == []
