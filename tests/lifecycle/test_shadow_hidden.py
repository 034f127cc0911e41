"""Shadow results never reach readers (in-process; tests/lifecycle/test_shadow_worker.py does it with a real worker)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from api.services.webhooks import webhook_create
from cases.models import Case
from inference.models import Prediction
from lifecycle.models import ShadowDeployment, ShadowPrediction
from lifecycle.services.shadow import shadow_predictions_run, shadow_start
from tests.lifecycle.conftest import CANDIDATE_LABEL, CHAMPION_LABEL
from tests.lifecycle.hidden import assert_hidden_from_readers
from tests.lifecycle.services.test_shadow import predict

pytestmark = pytest.mark.django_db


@pytest.fixture
def shadowed(
    brain_case, random_model, candidate, curator, curator_audit, mocker, django_capture_on_commit_callbacks
):
    """Two brain cases predicted by the champion, with the candidate's (different) shadow results done."""
    webhook_create(
        name="RIS", url="http://127.0.0.1:9/hooks", events=["prediction.completed"], created_by=curator
    )
    mocker.patch("api.services.webhooks.deliver_webhook.delay")
    mocker.patch("lifecycle.services.shadow.current_app")
    shadow_start(candidate=candidate, audit=curator_audit)
    predict(list(brain_case), django_capture_on_commit_callbacks, mocker)
    ids = list(ShadowPrediction.objects.values_list("pk", flat=True))
    assert shadow_predictions_run(shadow_prediction_ids=ids) == 2
    return list(Case.objects.filter(pk__in=brain_case.values("pk")))


def test_readers_pages_api_webhooks_and_summary_show_only_the_champion(
    shadowed, candidate, reviewer, radiologist, integration_api
):
    # The premise: every shadow result differs from what the readers were shown.
    assert set(ShadowPrediction.objects.values_list("label", flat=True)) == {CANDIDATE_LABEL}
    assert set(Prediction.objects.values_list("label", flat=True)) == {CHAMPION_LABEL}
    searched = assert_hidden_from_readers(
        readers=[reviewer, radiologist],
        api=integration_api,
        cases=shadowed,
        candidate=candidate,
        allowed_labels={CHAMPION_LABEL},
    )
    assert searched == 2 * (3 + len(shadowed)) + 1 + 2 * len(shadowed) + 2  # pages, API, webhooks


def test_readers_and_integrations_get_403_on_every_shadow_page_and_action(
    shadowed, reviewer, radiologist, integration
):
    deployment = ShadowDeployment.objects.get()
    for user in (reviewer, radiologist, integration):
        client = Client()
        client.force_login(user)
        assert client.get(reverse("lifecycle:shadows")).status_code == 403
        assert client.get(reverse("lifecycle:shadow", args=[deployment.pk])).status_code == 403
        assert client.post(reverse("lifecycle:shadow_stop", args=[deployment.pk])).status_code == 403
        assert client.post(reverse("lifecycle:shadow_start"), {"candidate": 1}).status_code == 403
    deployment.refresh_from_db()
    assert deployment.running
