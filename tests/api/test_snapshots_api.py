"""/api/v1/snapshots/: list, freeze, read and export (a streamed zip), Curators with the admin scope only."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from cases.models import AuditEvent
from curation.models import Snapshot
from oncocore.datasets.manifest import CARD_JSON_NAME, MANIFEST_NAME
from tests.curation import conftest as curation_fixtures

pytestmark = pytest.mark.django_db
BRAIN = curation_fixtures.BRAIN
store_examples = curation_fixtures.store_examples  # Example rows over stored images
brain_examples = curation_fixtures.brain_examples
URL = "/api/v1/snapshots/"


@pytest.fixture
def curator_api(token_client, curator):
    return token_client(curator, "read,admin")


def test_freeze_read_list(curator_api, brain_examples):
    created = curator_api.post(URL, {"task": "brain_mri", "seed": 2, "note": "api"}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["name"], body["version"], body["seed"], body["note"]) == ("brain_mri-v1", 1, 2, "api")
    assert body["size"] == len(brain_examples)
    assert body["provenance"] == {"corrected": len(brain_examples)}
    assert body["counts"]["test"] == dict.fromkeys(BRAIN, 1)
    event = AuditEvent.objects.get(action="snapshot_freeze")
    assert (event.source, event.actor_username) == ("api", "cur")

    detail = curator_api.get(f"{URL}{body['id']}/")
    assert detail.status_code == 200 and detail.json() == body
    listed = curator_api.get(URL)
    assert [s["name"] for s in listed.json()["results"]] == ["brain_mri-v1"]


def test_freeze_refusals(curator_api, brain_examples):
    unknown = curator_api.post(URL, {"task": "nope"}, format="json")
    assert unknown.status_code == 400 and unknown.json()["message"] == "Unknown task 'nope'."
    too_much = curator_api.post(
        URL, {"task": "brain_mri", "val_fraction": 0.5, "test_fraction": 0.5}, format="json"
    )
    assert too_much.status_code == 400 and "sum below 1" in too_much.json()["message"]
    typo = curator_api.post(URL, {"task": "brain_mri", "sead": 1}, format="json")
    assert typo.status_code == 400 and typo.json()["errors"] == {"sead": ["Unknown field."]}
    assert curator_api.post(URL, {"task": "brain_mri"}, format="json").status_code == 201
    again = curator_api.post(URL, {"task": "brain_mri"}, format="json")
    assert again.status_code == 409 and "Nothing changed since brain_mri-v1" in again.json()["message"]
    assert Snapshot.objects.count() == 1


def test_export_streams_a_zip_matching_the_manifest(curator_api, brain_examples):
    snapshot_id = curator_api.post(URL, {"task": "brain_mri"}, format="json").json()["id"]
    response = curator_api.get(f"{URL}{snapshot_id}/export/")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="brain_mri-v1.zip"'
    data = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = zf.read(f"brain_mri-v1/{MANIFEST_NAME}").decode().splitlines()[1:]
        assert len(manifest) == len(brain_examples)
        for line in manifest:
            path, _cls, _split, _group, sha256, *_ = line.split(",")
            assert hashlib.sha256(zf.read(f"brain_mri-v1/{path}")).hexdigest() == sha256
        assert f"brain_mri-v1/{CARD_JSON_NAME}" in zf.namelist()
    assert AuditEvent.objects.filter(action="snapshot_export", source="api").count() == 1


def test_access(client, token_client, curator, radiologist, brain_examples):
    from cases.models import AuditSource
    from cases.services.audit import AuditContext
    from curation.services.snapshots import snapshot_freeze

    snapshot = snapshot_freeze(task="brain_mri", audit=AuditContext.system(source=AuditSource.CLI))
    paths = [URL, f"{URL}{snapshot.pk}/", f"{URL}{snapshot.pk}/export/"]
    for path in paths:
        anonymous = client.get(path)
        assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")
        no_scope = token_client(curator, "read").get(path)
        assert no_scope.status_code == 403 and "'admin' scope" in no_scope.json()["message"]
        no_role = token_client(radiologist, "read,admin").get(path)
        assert (
            no_role.status_code == 403
            and no_role.json()["message"] == "Only Curators see and freeze dataset snapshots."
        )
    assert (
        token_client(radiologist, "read,admin").post(URL, {"task": "brain_mri"}, format="json").status_code
        == 403
    )
    curator_api = token_client(curator, "read,admin")
    for path in (f"{URL}{snapshot.pk + 1}/", f"{URL}{snapshot.pk + 1}/export/"):
        missing = curator_api.get(path)
        assert missing.status_code == 404 and missing.json()["code"] == "not_found"
