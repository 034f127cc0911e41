"""The AI result on the case page, saliency files behind permissions, and the retry action."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from PIL import Image as PILImage

from cases.models import AuditEvent, Case, CaseStatus
from cases.templatetags.cases_tags import class_label
from inference.decode import serving_array
from inference.models import Prediction
from inference.pipeline import predictions_run
from inference.services import prediction_request
from oncocore.model_card import ModelCard
from oncocore.saliency import SaliencyMap, cam_to_png16, overlay_png

pytestmark = pytest.mark.django_db


@pytest.fixture
def predicted_case(brain_case, random_model, django_capture_on_commit_callbacks, mocker):
    mocker.patch("inference.services.run_predictions.delay")
    case = brain_case.first()
    with django_capture_on_commit_callbacks(execute=True):
        created = prediction_request(case=case)
    predictions_run(prediction_ids=[p.pk for p in created])
    case.refresh_from_db()
    assert case.status == CaseStatus.PREDICTED
    return case


def test_case_page_shows_label_probabilities_overlay_and_untrained_warning(
    client, radiologist, predicted_case
):
    client.force_login(radiologist)
    html = client.get(reverse("cases:case_detail", args=[predicted_case.pk])).content.decode()
    prediction = Prediction.objects.get(image__case=predicted_case)
    assert "AI result" in html
    # Readable class names (issue 23).
    assert f"<strong>{class_label(prediction.label, prediction.model_version.task)}</strong>" in html
    for name in prediction.probabilities:
        assert class_label(name, prediction.model_version.task) in html
    assert reverse("inference:prediction_file", args=[prediction.pk, "overlay"]) in html
    assert "Untrained model." in html and "not a diagnosis" in html
    assert "forward" in html and "saliency" in html  # stage timings


def test_saliency_files_follow_case_permissions(
    client, radiologist, other_radiologist, curator, predicted_case
):
    prediction = Prediction.objects.get(image__case=predicted_case)
    for kind in ("overlay", "saliency"):
        url = reverse("inference:prediction_file", args=[prediction.pk, kind])
        client.force_login(radiologist)
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        assert b"".join(response.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
        client.force_login(other_radiologist)
        assert client.get(url).status_code == 404
        client.force_login(curator)
        assert client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code == 302


def test_retry_requeues_a_failed_case(
    client, radiologist, reviewer, predicted_case, mocker, django_capture_on_commit_callbacks
):
    Prediction.objects.filter(image__case=predicted_case).update(
        status=Prediction.Status.FAILED, error="boom"
    )
    Case.objects.filter(pk=predicted_case.pk).update(status=CaseStatus.FAILED, failure_reason="boom")
    url = reverse("inference:case_retry", args=[predicted_case.pk])
    client.force_login(reviewer)
    assert client.post(url).status_code == 403
    client.force_login(radiologist)
    page = client.get(reverse("cases:case_detail", args=[predicted_case.pk])).content.decode()
    assert "boom" in page and url in page
    delay = mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 302
    delay.assert_called_once()
    predicted_case.refresh_from_db()
    assert predicted_case.status == CaseStatus.QUEUED
    # A case that has not failed cannot be retried: a message, not an error page.
    response = client.post(url, follow=True)
    assert "only failed cases can be retried" in response.content.decode()


def test_retry_of_another_sites_case_is_not_found_and_changes_nothing(
    client, radiologist, other_radiologist, predicted_case, mocker, django_capture_on_commit_callbacks
):
    Prediction.objects.filter(image__case=predicted_case).update(
        status=Prediction.Status.FAILED, error="boom"
    )
    Case.objects.filter(pk=predicted_case.pk).update(status=CaseStatus.FAILED, failure_reason="boom")
    delay = mocker.patch("inference.services.run_predictions.delay")
    url = reverse("inference:case_retry", args=[predicted_case.pk])
    # A Radiologist of another site holds cases.change_case: only the site scoping stops the retry.
    assert other_radiologist.has_perm("cases.change_case")
    client.force_login(other_radiologist)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 404
    assert "boom" not in response.content.decode()
    predicted_case.refresh_from_db()
    assert (predicted_case.status, predicted_case.failure_reason) == (CaseStatus.FAILED, "boom")
    assert set(Prediction.objects.filter(image__case=predicted_case).values_list("status", flat=True)) == {
        Prediction.Status.FAILED
    }
    assert Prediction.objects.filter(image__case=predicted_case).count() == 1
    assert not AuditEvent.objects.filter(action="case.retried").exists()
    delay.assert_not_called()
    # The same request from the case's own site does retry it: the 404 above was the site check.
    client.force_login(radiologist)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url).status_code == 302
    predicted_case.refresh_from_db()
    assert predicted_case.status == CaseStatus.QUEUED


def test_worklist_shows_the_ai_label_in_constant_queries(
    client, radiologist, predicted_case, django_assert_max_num_queries
):
    client.force_login(radiologist)
    prediction = Prediction.objects.get(image__case=predicted_case)
    with django_assert_max_num_queries(12):
        html = client.get(reverse("cases:worklist")).content.decode()
    # A tumour label is emphasised (positive finding); "notumor" is plain text.
    assert re.search(
        rf'{class_label(prediction.label, "brain_mri")}(</strong>)? <span class="muted">{prediction.confidence:.2f}</span>',
        html,
    )
    assert "untrained" in html


def _png(response) -> np.ndarray:
    return np.asarray(PILImage.open(io.BytesIO(b"".join(response.streaming_content))))


def test_maps_are_rendered_once_from_the_stored_cells_and_match_todays_worker(
    client, radiologist, predicted_case, media_dir, mocker
):
    """Issue 17: the worker stores the cells; the first view renders what the worker used to store."""
    prediction = Prediction.objects.get(image__case=predicted_case)
    folder = media_dir / "predictions" / str(prediction.pk)
    assert sorted(p.name for p in folder.iterdir()) == ["cam.png"]
    cells = SaliencyMap.from_png16((folder / "cam.png").read_bytes(), prediction.saliency_geometry)
    image = prediction.image
    spec = ModelCard.from_dict(prediction.model_version.card).preprocessing
    array = serving_array(image, spec)
    client.force_login(radiologist)
    full = _png(client.get(reverse("inference:prediction_file", args=[prediction.pk, "saliency"])))
    overlay = _png(client.get(reverse("inference:prediction_file", args=[prediction.pk, "overlay"])))
    # What the worker stored before issue 17, from the same map.
    todays_full = np.asarray(PILImage.open(io.BytesIO(cam_to_png16(cells.render()))))
    todays_overlay = np.asarray(PILImage.open(io.BytesIO(overlay_png(array, cells.render()))))
    assert full.shape == (image.rows, image.cols) and np.array_equal(full, todays_full)
    assert overlay.shape == (image.rows, image.cols, 3) and np.array_equal(overlay, todays_overlay)
    assert sorted(p.name for p in folder.iterdir()) == ["cam.png", "overlay.png", "saliency.png"]
    prediction.refresh_from_db()
    assert prediction.saliency_overlay.name == f"predictions/{prediction.pk}/overlay.png"
    # Cached: a second view renders nothing.
    render = mocker.patch(
        "oncocore.saliency.SaliencyMap.render", side_effect=AssertionError("rendered twice")
    )
    for kind in ("saliency", "overlay"):
        assert client.get(reverse("inference:prediction_file", args=[prediction.pk, kind])).status_code == 200
    render.assert_not_called()


def test_predictions_stored_before_issue_17_are_served_as_they_are(client, radiologist, predicted_case):
    prediction = Prediction.objects.get(image__case=predicted_case)
    rng = np.random.default_rng(0)
    full = rng.random((prediction.image.rows, prediction.image.cols)).astype(np.float32)
    old_overlay = overlay_png(np.zeros((prediction.image.rows, prediction.image.cols), np.uint8), full)
    Prediction.objects.filter(pk=prediction.pk).update(
        saliency_raw=default_storage.save("predictions/old/saliency.png", io.BytesIO(cam_to_png16(full))),
        saliency_overlay=default_storage.save("predictions/old/overlay.png", io.BytesIO(old_overlay)),
        saliency_geometry=None,
    )
    client.force_login(radiologist)
    got = _png(client.get(reverse("inference:prediction_file", args=[prediction.pk, "saliency"])))
    assert np.array_equal(got, np.asarray(PILImage.open(io.BytesIO(cam_to_png16(full)))))
    response = client.get(reverse("inference:prediction_file", args=[prediction.pk, "overlay"]))
    assert b"".join(response.streaming_content) == old_overlay
    # A row without any map, or whose map is gone, is a 404 with a reason.
    Prediction.objects.filter(pk=prediction.pk).update(saliency_raw="", saliency_overlay="")
    assert (
        client.get(reverse("inference:prediction_file", args=[prediction.pk, "saliency"])).status_code == 404
    )
    Prediction.objects.filter(pk=prediction.pk).update(
        saliency_raw="predictions/gone/cam.png", saliency_geometry={"shape": [2, 2], "rescale": True}
    )
    assert (
        client.get(reverse("inference:prediction_file", args=[prediction.pk, "overlay"])).status_code == 404
    )
