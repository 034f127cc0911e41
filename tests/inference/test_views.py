"""The AI result on the case page, saliency files behind permissions, and the retry action."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from cases.models import Case, CaseStatus
from inference.models import Prediction
from inference.pipeline import predictions_run
from inference.services import prediction_request

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
    assert f"<strong>{prediction.label}</strong>" in html
    for name in prediction.probabilities:
        assert name in html
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


def test_worklist_shows_the_ai_label_in_constant_queries(
    client, radiologist, predicted_case, django_assert_max_num_queries
):
    client.force_login(radiologist)
    prediction = Prediction.objects.get(image__case=predicted_case)
    with django_assert_max_num_queries(12):
        html = client.get(reverse("cases:worklist")).content.decode()
    # A tumour label is emphasised (positive finding); "notumor" is plain text.
    assert re.search(
        rf'{prediction.label}(</strong>)? <span class="muted">{prediction.confidence:.2f}</span>', html
    )
    assert "untrained" in html
