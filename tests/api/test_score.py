"""Scoring one image over the API (the try-out): wait for the result or poll it; only its owner sees it."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from cases.models import AuditEvent
from inference.models import TryOut
from inference.tryout.worker import tryout_run
from tests.inference.conftest import files_under
from tests.worker import redis_url, wait_for, worker_sharing_media

SCORE = "/api/v1/score/"
RESULT = {
    "id", "status", "task", "label", "confidence", "probabilities", "uncertainty", "untrained", "models",
    "device", "timings", "error", "created_at", "expires_at", "status_url", "image_url", "overlay_url",
    "in_scope", "scope_ratio",  # the input suitability check (issue 23 item 1)
}  # fmt: skip


@pytest.fixture
def glioma(data_dir):
    return sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[0]


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "errors"} and body["code"] == code, body
    return body


def _post(client, path, *, task: str = "brain_mri", wait: float | None = 0, **extra):
    form = {"task": task, "file": SimpleUploadedFile(path.name, path.read_bytes()), **extra}
    if wait is not None:
        form["wait"] = str(wait)
    return client.post(SCORE, form, format="multipart")


def _png(response) -> bytes:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "image/png"
    return b"".join(response.streaming_content)


# --- In-process: the request side, the worker's function called directly -------------
@pytest.mark.django_db
def test_queued_then_finished_result_shape(token_client, radiologist, random_model, glioma):
    client = token_client(radiologist, "read,upload")
    response = _post(client, glioma, wait=0)
    assert response.status_code == 202, response.content  # no worker here: still queued
    body = response.json()
    assert set(body) == RESULT and body["status"] == "queued" and body["overlay_url"] is None
    created = TryOut.objects.get()
    assert created.user == radiologist and created.task == "brain_mri" and body["id"] == str(created.pk)
    assert body["status_url"] == f"http://testserver{SCORE}{created.pk}/" == response["Location"]
    assert body["image_url"] == f"http://testserver{SCORE}{created.pk}/image.png"
    assert body["untrained"] and body["models"] == [str(random_model)]
    event = AuditEvent.objects.get(action="tryout.created")
    assert event.source == "api" and event.actor == radiologist
    _error(client.get(f"{SCORE}{created.pk}/overlay.png"), 404, "not_found")  # not yet

    assert tryout_run(tryout_id=str(created.pk))
    response = client.get(body["status_url"])
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    done = response.json()
    assert done["status"] == "done" and done["label"] in random_model.class_names
    assert set(done["probabilities"]) == set(random_model.class_names) and done["device"]
    assert done["overlay_url"] == f"http://testserver{SCORE}{created.pk}/overlay.png"
    assert _png(client.get(done["image_url"]))[:4] == b"\x89PNG"
    # Asking for a PNG does not turn the overlay, or an error, into something else.
    assert _png(client.get(done["overlay_url"], HTTP_ACCEPT="image/png"))[:4] == b"\x89PNG"


@pytest.mark.django_db
def test_delete_discards_files_and_row(token_client, radiologist, random_model, glioma, media_dir):
    client = token_client(radiologist, "read,upload")
    status_url = _post(client, glioma).json()["status_url"]
    assert files_under(media_dir, "tryout")
    _error(token_client(radiologist, "read").delete(status_url), 403, "permission_denied")
    assert client.delete(status_url).status_code == 204
    assert not TryOut.objects.exists() and files_under(media_dir, "tryout") == []
    assert AuditEvent.objects.get(action="tryout.deleted").source == "api"
    _error(client.get(status_url), 404, "not_found")
    _error(client.delete(status_url), 404, "not_found")


@pytest.mark.django_db
def test_only_the_owner_sees_a_try_out(
    token_client, radiologist, make_user, site, curator, other_radiologist, random_model, glioma
):
    status_url = _post(token_client(radiologist, "read,upload"), glioma).json()["status_url"]
    created = TryOut.objects.get()
    assert tryout_run(tryout_id=str(created.pk))
    created.refresh_from_db()
    assert created.label
    colleague = make_user("rad-same-site", "Radiologist", site)
    for user in (colleague, curator, other_radiologist):
        client = token_client(user, "read,upload")
        for method, url in [
            ("get", status_url),
            ("get", status_url + "image.png"),
            ("get", status_url + "overlay.png"),
            ("delete", status_url),
        ]:
            body = _error(getattr(client, method)(url), 404, "not_found")
            assert created.label not in str(body) and "glioma" not in str(body), (user, url)
    assert TryOut.objects.filter(pk=created.pk).exists() and default_storage.exists(created.file.name)


@pytest.mark.django_db
def test_bad_requests_are_400_with_a_reason_and_store_nothing(
    token_client, radiologist, random_model, glioma, media_dir
):
    client = token_client(radiologist, "read,upload")
    body = _error(_post(client, glioma, task="knee_xray"), 400, "invalid")
    assert body["message"] == "Unknown task 'knee_xray'."
    body = _error(_post(client, glioma, task="lung_ct"), 400, "invalid")
    assert body["message"].startswith("No model is active for")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(glioma.name, glioma.read_bytes())
    response = client.post(
        SCORE, {"task": "brain_mri", "file": SimpleUploadedFile("study.zip", archive.getvalue())}
    )
    assert "a try-out takes one image" in _error(response, 400, "invalid")["message"]
    response = client.post(
        SCORE,
        {
            "task": "brain_mri",
            "file": [
                SimpleUploadedFile("a.jpg", glioma.read_bytes()),
                SimpleUploadedFile("b.jpg", glioma.read_bytes()),
            ],
        },
    )
    assert "one image" in _error(response, 400, "invalid")["errors"]["file"][0]
    assert set(_error(client.post(SCORE, {"task": "brain_mri"}), 400, "invalid")["errors"]) == {"file"}
    assert set(_error(_post(client, glioma, wait=31), 400, "invalid")["errors"]) == {"wait"}
    assert _error(_post(client, glioma, priority="1"), 400, "invalid")["errors"] == {
        "priority": ["Unknown field."]
    }
    assert not TryOut.objects.exists() and files_under(media_dir) == []


@pytest.mark.django_db
def test_oversized_is_413_before_the_body_is_read_and_json_is_415(
    token_client, radiologist, random_model, glioma, settings, media_dir
):
    client = token_client(radiologist, "read,upload")
    settings.INTAKE_MAX_REQUEST_BYTES = 1024
    body = _error(_post(client, glioma), 413, "too_large")
    assert "over the 1.0\xa0KB limit" in body["message"] and "Nothing was stored" in body["message"]
    settings.INTAKE_MAX_REQUEST_BYTES = 10 * 1024**2
    _error(client.post(SCORE, {"task": "brain_mri"}, format="json"), 415, "unsupported_media_type")
    assert not TryOut.objects.exists() and files_under(media_dir) == []


@pytest.mark.django_db
def test_scoring_needs_the_upload_scope_and_upload_permission(
    token_client, reviewer, integration, random_model, glioma
):
    body = _error(_post(token_client(integration, "read"), glioma), 403, "permission_denied")
    assert "'upload' scope" in body["message"]
    # Issue 24 item 7: a try-out stores an image and runs the model, as an upload does.
    _error(_post(token_client(reviewer, "read,upload"), glioma), 403, "permission_denied")
    assert not TryOut.objects.exists()
    assert _post(token_client(integration, "read,upload"), glioma).status_code == 202
    assert TryOut.objects.count() == 1


# --- Through a real worker process ---------------------------------------------------
@pytest.fixture
def real_worker(django_db_serialized_rollback, transactional_db, settings, tmp_path):
    # Serialized rollback, as every transactional test here: see tests/api/test_webhooks.py's worker.
    # Redis db 8: the other worker tests flush 11, 12 and 13.
    with worker_sharing_media(settings=settings, tmp_path=tmp_path, url=redis_url(8)) as proc:
        yield proc


@pytest.mark.services
@pytest.mark.slow
def test_a_real_worker_scores_polled_then_waited_for(
    real_worker, token_client, radiologist, random_model, glioma
):
    client = token_client(radiologist, "read,upload")
    # wait=0: answered at once, queued or running; the status URL says when it is done.
    response = _post(client, glioma, wait=0)
    assert response.status_code == 202, response.content
    queued = response.json()
    assert queued["status"] in ("queued", "running") and response["Location"] == queued["status_url"]

    def polled() -> dict:
        return client.get(queued["status_url"]).json()

    wait_for(lambda: polled()["status"] in ("done", "failed"), what="try-out", log_path=real_worker.log_path)
    done = polled()
    assert done["status"] == "done", done["error"]
    assert done["label"] in random_model.class_names and done["overlay_url"]
    assert _png(client.get(done["overlay_url"]))[:4] == b"\x89PNG"

    # The worker has the model loaded now: a 30 s wait gets the result in the answer.
    response = _post(client, glioma, wait=30)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == RESULT and body["status"] == "done" and "Location" not in response
    assert body["label"] in random_model.class_names and body["overlay_url"]
    assert client.delete(body["status_url"]).status_code == 204
