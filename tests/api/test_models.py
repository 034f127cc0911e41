"""Model versions over the API: anyone with a role reads them; Curators activate and retire, audited as api."""

from __future__ import annotations

import json

import pytest

from cases.models import AuditEvent
from inference.models import ModelVersion
from inference.services import model_version_register
from tests.inference.conftest import trained_random_bundle

pytestmark = pytest.mark.django_db

MODELS = "/api/v1/models/"
METRICS = {
    "split": "validation (group-held-out)",
    "best_epoch": 3,
    "calibrated": {"accuracy": 0.5, "macro_f1": 0.4},
}


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "errors"} and body["code"] == code, body
    return body


@pytest.fixture
def trained(tmp_path, random_model):
    """A second brain MRI version, registered (not active), whose card carries validation metrics."""
    folder = tmp_path / "brain-trained"
    trained_random_bundle(folder, "2.0")
    card = json.loads((folder / "model.json").read_text())
    card["metrics"] = METRICS
    (folder / "model.json").write_text(json.dumps(card))
    version, _ = model_version_register(bundle_dir=folder)
    return version


def test_every_role_reads_models_with_card_metrics_and_ensemble(
    token_client, integration, reviewer, random_model, trained
):
    for user in (integration, reviewer):
        response = token_client(user, "read").get(MODELS)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        assert [m["id"] for m in body["results"]] == [trained.pk, random_model.pk]  # newest first
    first = body["results"][0]
    assert set(first) == {
        "id", "name", "version", "label", "task", "task_label", "arch", "status", "weight", "untrained",
        "class_names", "weights_sha256", "created_at", "activated_at", "retired_at", "card", "metrics",
        "ensemble",
    }  # fmt: skip
    assert first["label"] == "brain_mri@2.0" and first["status"] == "registered" and first["task_label"]
    assert first["metrics"] == METRICS and first["card"]["metrics"] == METRICS
    assert first["weights_sha256"] == trained.weights_sha256
    untrained = body["results"][1]
    assert untrained["untrained"] and untrained["metrics"] is None and untrained["status"] == "active"
    lead = {"id": random_model.pk, "label": random_model.label, "weight": 1.0, "untrained": True}
    for row in body["results"]:  # the task's ensemble, whatever the row's own state
        assert [{k: m[k] for k in lead} for m in row["ensemble"]] == [lead]


def test_list_filters_and_refuses_unknown_parameters(token_client, integration, random_model, trained):
    client = token_client(integration, "read")
    ids = lambda query: [m["id"] for m in client.get(MODELS + query).json()["results"]]  # noqa: E731
    assert ids("?status=active") == [random_model.pk]
    assert ids("?status=registered&task=brain_mri") == [trained.pk]
    assert ids("?task=lung_ct") == []
    page = client.get(MODELS + "?page_size=1").json()
    assert len(page["results"]) == 1 and page["next"].startswith("http://testserver/api/v1/models/?cursor=")
    assert [m["id"] for m in client.get(page["next"]).json()["results"]] == [random_model.pk]
    body = _error(client.get(MODELS + "?status=dead"), 400, "invalid")
    assert "status" in body["errors"]
    body = _error(client.get(MODELS + "?status="), 400, "invalid")  # empty is no state either (schemathesis)
    assert "status" in body["errors"]
    body = _error(client.get(MODELS + "?stauts=active"), 400, "invalid")
    assert body["errors"] == {"stauts": ["Unknown field."]}


def test_detail_and_404(token_client, reviewer, trained):
    client = token_client(reviewer, "read")
    body = client.get(f"{MODELS}{trained.pk}/").json()
    assert (
        body["id"] == trained.pk and body["metrics"] == METRICS and body["class_names"] == trained.class_names
    )
    _error(client.get(f"{MODELS}999999/"), 404, "not_found")


def test_curator_activates_exclusively_and_it_is_audited_as_api(token_client, curator, random_model, trained):
    client = token_client(curator, "read,admin")
    response = client.post(f"{MODELS}{trained.pk}/activate/", {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "active" and body["activated_at"]
    assert {m["id"] for m in body["ensemble"]} == {trained.pk, random_model.pk}  # beside, not instead

    body = client.post(f"{MODELS}{trained.pk}/activate/", {"exclusive": True}, format="json").json()
    assert [m["id"] for m in body["ensemble"]] == [trained.pk]
    random_model.refresh_from_db()
    assert random_model.status == ModelVersion.Status.RETIRED
    events = AuditEvent.objects.filter(action__startswith="model.", source="api").order_by("pk")
    assert [(e.action, e.object_id) for e in events] == [
        ("model.activated", str(trained.pk)),
        ("model.retired", str(random_model.pk)),
        ("model.activated", str(trained.pk)),
    ]
    assert all(e.actor == curator and e.user_agent.startswith("token ") for e in events)


def test_activate_refuses_unknown_fields(token_client, curator, trained):
    response = token_client(curator, "admin").post(
        f"{MODELS}{trained.pk}/activate/", {"exclusiv": True}, format="json"
    )
    assert _error(response, 400, "invalid")["errors"] == {"exclusiv": ["Unknown field."]}
    trained.refresh_from_db()
    assert trained.status == ModelVersion.Status.REGISTERED


def test_retire_is_idempotent_and_may_retire_the_last_active_version(token_client, curator, random_model):
    client = token_client(curator, "admin")
    url = f"{MODELS}{random_model.pk}/retire/"
    body = client.post(url).json()
    assert body["status"] == "retired" and body["retired_at"] and body["ensemble"] == []
    again = client.post(url)
    assert again.status_code == 200 and again.json()["retired_at"] == body["retired_at"]
    events = AuditEvent.objects.filter(action="model.retired")
    assert [(e.source, e.actor) for e in events] == [("api", curator)]  # once: the second changed nothing
    assert _error(client.post(url, {"force": True}, format="json"), 400, "invalid")["errors"] == {
        "force": ["Unknown field."]
    }
    _error(client.post(f"{MODELS}999999/retire/"), 404, "not_found")


def test_denials(token_client, radiologist, curator, no_role_user, random_model):
    url = f"{MODELS}{random_model.pk}/retire/"
    body = _error(token_client(radiologist, "read,upload,review,admin").post(url), 403, "permission_denied")
    assert body["message"] == "Your role may not activate or retire models."
    body = _error(token_client(curator, "read,upload,review").post(url), 403, "permission_denied")
    assert "'admin' scope" in body["message"]
    _error(token_client(no_role_user, "read").get(MODELS), 403, "permission_denied")
    random_model.refresh_from_db()
    assert random_model.status == ModelVersion.Status.ACTIVE
    assert not AuditEvent.objects.filter(action="model.retired").exists()
