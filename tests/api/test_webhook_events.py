"""Webhooks: each event sent at the right moment (prediction completed, case failed, review completed, adjudicated)."""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse

from api.models import WebhookDelivery, WebhookSubscription
from api.services.webhooks import webhook_emit
from cases.models import Case, CaseStatus, ReviewPolicy, Task
from cases.services.adjudication import adjudication_submit
from cases.services.review import review_submit
from inference.case_status import cases_refresh_status
from inference.models import Prediction
from tests.api.webhook_support import (
    _predicted,
    _subscribe,
)


# --- Events at the right moments -----------------------------------------------------------
@pytest.fixture
def predicted(brain_case, random_model, django_capture_on_commit_callbacks, mocker) -> list[Case]:
    mocker.patch("inference.services.run_predictions.delay")
    return _predicted(list(brain_case), django_capture_on_commit_callbacks)


def test_prediction_completed_is_delivered_with_the_predictions(
    brain_case, random_model, curator, queued, django_capture_on_commit_callbacks, mocker, other_site
):
    everything = _subscribe("https://ris.example.org/all", by=curator)
    _subscribe("https://ris.example.org/other-site", by=curator, site=other_site)
    _subscribe("https://ris.example.org/reviews", by=curator, events=["review.completed"])
    mocker.patch("inference.services.run_predictions.delay")
    cases = _predicted(list(brain_case), django_capture_on_commit_callbacks)

    deliveries = list(WebhookDelivery.objects.order_by("pk"))
    assert [d.subscription_id for d in deliveries] == [everything.pk, everything.pk]  # site and event filters
    assert [d.event for d in deliveries] == ["prediction.completed"] * 2
    assert queued == [d.pk for d in deliveries]  # queued once committed
    payload = deliveries[0].payload
    case = next(c for c in cases if c.pk == payload["case"]["id"])
    prediction = Prediction.objects.get(image__case=case)
    assert payload["id"] == str(deliveries[0].event_id) and payload["event"] == "prediction.completed"
    assert payload["case"] == {
        "id": case.pk,
        "url": f"http://127.0.0.1:8000/api/v1/cases/{case.pk}/",
        "site": "uh-radiology",
        "task": "brain_mri",
        "status": "predicted",
        "ai": {"label": case.ai_label, "confidence": case.ai_confidence, "positive": case.ai_positive,
               "untrained": True, "outside_scope": False},
        "study_result": {"label": case.ai_label, "confidence": case.ai_confidence,
                         "probabilities": prediction.probabilities, "positive": case.ai_positive,
                         "key_image": prediction.image_id, "images": 1, "out_of_scope": 0},
    }  # fmt: skip
    assert payload["predictions"] == [
        {
            "id": prediction.pk,
            "image": prediction.image_id,
            "label": prediction.label,
            "confidence": prediction.confidence,
            "untrained": True,
            "in_scope": None,  # the random test model has no suitability check
            "model_version": str(random_model),
        }
    ]
    assert "patient" not in json.dumps(payload)


def test_case_failed_is_delivered_once_with_the_reason(
    predicted, curator, queued, django_capture_on_commit_callbacks
):
    _subscribe("https://ris.example.org/all", by=curator)
    case = predicted[0]
    Prediction.objects.filter(image__case=case).update(status=Prediction.Status.FAILED, error="boom")
    Case.objects.filter(pk=case.pk).update(status=CaseStatus.PREDICTING)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        cases_refresh_status(case_ids=[case.pk])
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        cases_refresh_status(case_ids=[case.pk])  # already failed: nothing moves, nothing is announced
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.event == "case.failed" and delivery.payload["reason"] == "boom"
    assert delivery.payload["case"]["status"] == "failed"


def test_a_review_through_the_web_completing_the_case_sends_review_completed(
    predicted, curator, reviewer, queued, django_capture_on_commit_callbacks
):
    _subscribe("https://ris.example.org/all", by=curator)
    case = predicted[0]
    image = case.images.get()
    client = Client()
    client.force_login(reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            reverse("cases:review_submit", args=[case.pk, image.pk]), {"label": "glioma", "note": "x"}
        )
    assert answer.status_code == 302
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.event == "review.completed"
    assert delivery.payload["case"]["status"] == "reviewed"
    assert delivery.payload["images"] == [
        {"image": image.pk, "label": "glioma", "non_diagnostic": False, "readers": 1, "adjudicated": False}
    ]
    assert queued == [delivery.pk]


def test_a_disagreement_sends_nothing_until_the_adjudication_finishes_the_case(
    predicted, curator, reviewer, make_user, site, queued, django_capture_on_commit_callbacks
):
    ReviewPolicy.objects.create(task=Task.BRAIN_MRI, readers_required=2)
    second = make_user("rev2", "Reviewer", site)
    _subscribe("https://ris.example.org/all", by=curator)
    case = predicted[0]
    image = case.images.get()
    with django_capture_on_commit_callbacks(execute=True):
        review_submit(case=case, image=image, reviewer=reviewer, label="glioma")
        review_submit(case=case, image=image, reviewer=second, non_diagnostic=True)
    assert not WebhookDelivery.objects.exists()  # awaiting adjudication: not reviewed yet
    with django_capture_on_commit_callbacks(execute=True):
        adjudication_submit(case=case, image=image, curator=curator, label="meningioma")
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.event == "case.adjudicated"
    assert delivery.payload["images"] == [
        {"image": image.pk, "label": "meningioma", "non_diagnostic": False, "readers": 2, "adjudicated": True}
    ]


def test_an_inactive_subscription_gets_no_deliveries(
    predicted, curator, queued, django_capture_on_commit_callbacks
):
    subscription = _subscribe("https://ris.example.org/all", by=curator)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False)
    assert webhook_emit(event="review.completed", case_id=predicted[0].pk, detail={}) == []
