"""POST /api/v1/models/{id}/promote/ and /api/v1/models/changes/{id}/rollback/: the services, 409 with the gate's reasons."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from api.services.tokens import token_create
from cases.models import AuditEvent, AuditSource
from inference.selectors import active_ensemble
from lifecycle.models import ModelChange
from tests.lifecycle.conftest import metrics

pytestmark = pytest.mark.django_db


def _client(user, scopes=("read", "admin")) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {token_create(user=user, name='t', scopes=list(scopes)).value}"
    )
    return client


def test_promote_refused_by_the_gate_is_409_with_the_reasons(
    curator, random_model, candidate, make_evaluation
):
    make_evaluation(
        candidate, champion=metrics(0.80, pituitary=0.95), challenger=metrics(0.80, pituitary=0.80)
    )
    response = _client(curator).post(f"/api/v1/models/{candidate.pk}/promote/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "conflict"
    assert "Sensitivity of Pituitary 0.800 is 0.150 below the champion's 0.950" in response.json()["message"]
    assert active_ensemble(task="brain_mri") == [random_model]


def test_promote_and_roll_back_through_the_api(curator, random_model, candidate, make_evaluation):
    evaluation = make_evaluation(candidate)
    client = _client(curator)
    response = client.post(
        f"/api/v1/models/{candidate.pk}/promote/",
        {"reason": "api", "evaluation": evaluation.pk},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (
        body["kind"] == "promote"
        and body["version_id"] == candidate.pk
        and body["evaluation"] == evaluation.pk
    )
    assert body["gate"]["passed"] is True and body["actor"] == "cur"
    assert active_ensemble(task="brain_mri") == [candidate]
    assert AuditEvent.objects.get(action="model.promoted").source == AuditSource.API

    response = client.post(
        f"/api/v1/models/changes/{body['id']}/rollback/", {"reason": "undo"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert (
        response.json()["kind"] == "rollback" and response.json()["after"][0]["version_id"] == random_model.pk
    )
    assert active_ensemble(task="brain_mri") == [random_model]
    assert ModelChange.objects.count() == 2


def test_roles_without_promote_model_get_403(reviewer, integration, random_model, candidate, make_evaluation):
    make_evaluation(candidate)
    for user in (reviewer, integration):
        response = _client(user).post(f"/api/v1/models/{candidate.pk}/promote/", {}, format="json")
        assert response.status_code == 403
    assert active_ensemble(task="brain_mri") == [random_model]


def test_unknown_fields_and_objects(curator, candidate):
    client = _client(curator)
    assert client.post(f"/api/v1/models/{candidate.pk}/promote/", {"x": 1}, format="json").status_code == 400
    assert client.post("/api/v1/models/999999/promote/", {}, format="json").status_code == 404
    assert client.post("/api/v1/models/changes/999999/rollback/", {}, format="json").status_code == 404
    missing = client.post(f"/api/v1/models/{candidate.pk}/promote/", {"evaluation": 999999}, format="json")
    assert missing.status_code == 404
