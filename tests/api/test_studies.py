"""POST/GET /api/v1/studies/ and GET /api/v1/uploads/{batch_id}/: the intake as an API, and reading studies."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cases.models import AuditEvent, Case, Image, IntakeBatch, Study

pytestmark = pytest.mark.django_db

URL = "/api/v1/studies/"
PYDICOM = "dicom/pydicom"
REPORT_KEYS = {"batch_id", "accepted", "duplicates", "rejected", "case_ids", "cases", "report_url"}


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "message", "errors"} and body["code"] == code, body
    assert body["message"]
    return body


def _file(data_dir, relative: str, name: str | None = None) -> SimpleUploadedFile:
    path = data_dir / relative
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="application/octet-stream")


def _brain(data_dir, n: int = 2) -> list[SimpleUploadedFile]:
    paths = sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[:n]
    return [SimpleUploadedFile(p.name, p.read_bytes(), content_type="image/jpeg") for p in paths]


def _zip(data_dir, *relatives: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in relatives:
            archive.write(data_dir / relative, arcname=f"study/{(data_dir / relative).name}")
    return SimpleUploadedFile("study.zip", buffer.getvalue(), content_type="application/zip")


def _nothing_stored(media_dir) -> None:
    assert not Image.objects.exists() and not Case.objects.exists()
    assert not [p for p in media_dir.rglob("*") if p.is_file()]


@pytest.fixture
def uploader(radiologist, token_client):
    return token_client(radiologist, "read,upload")


# --- upload -------------------------------------------------------------------------


def test_upload_plain_images_is_201_with_the_per_file_report(uploader, radiologist, data_dir, site):
    response = uploader.post(URL, {"files": _brain(data_dir), "task": "brain_mri", "patient_ref": "pt-7"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == REPORT_KEYS
    batch = IntakeBatch.objects.get()
    assert body["batch_id"] == str(batch.pk)
    assert (batch.source, batch.site, batch.uploaded_by) == ("api", site, radiologist)
    assert len(body["accepted"]) == 2 and body["duplicates"] == [] and body["rejected"] == []
    cases = Case.objects.order_by("pk")
    assert body["case_ids"] == [c.pk for c in cases]
    assert {c.task for c in cases} == {"brain_mri"}
    assert len({c.study.patient_id for c in cases}) == 1  # both linked to pt-7's pseudonym
    assert body["cases"] == [f"http://testserver/api/v1/cases/{c.pk}/" for c in cases]
    assert body["report_url"] == f"http://testserver/api/v1/uploads/{batch.pk}/"
    assert response["Location"] == body["report_url"]
    item = body["accepted"][0]
    assert item["status"] == "accepted" and item["image_id"] and item["case_id"] in body["case_ids"]

    again = uploader.get(body["report_url"])
    assert again.status_code == 200 and again.json() == body

    event = AuditEvent.objects.get(action="intake.batch")
    assert (event.source, event.actor) == ("api", radiologist)
    assert event.user_agent.startswith("token ")


def test_upload_dicom_and_a_zip_with_duplicates_and_rejections(uploader, data_dir):
    response = uploader.post(
        URL,
        {
            "files": [
                _file(data_dir, f"{PYDICOM}/CT_small.dcm"),
                SimpleUploadedFile("notes.txt", b"not an image\n", content_type="text/plain"),
                _zip(data_dir, f"{PYDICOM}/MR_small.dcm", f"{PYDICOM}/rtplan.dcm"),
            ]
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    # Files are named by their position in the upload (zip entries in archive order), never as sent.
    assert sorted(i["name"] for i in body["accepted"]) == ["file-001.dcm", "file-003.dcm"]
    assert {i["modality"] for i in body["accepted"]} == {"CT", "MR"}
    rejected = {i["name"]: i["reason"] for i in body["rejected"]}
    assert set(rejected) == {"file-002", "file-004.dcm"} and all(rejected.values())
    assert "CT_small" not in response.content.decode() and "rtplan" not in response.content.decode()
    assert Case.objects.count() == 2 == len(body["case_ids"])

    # The same bytes again: nothing new, 200, each a duplicate of the case it is in.
    again = uploader.post(URL, {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]})
    assert again.status_code == 200, again.content
    repeat = again.json()
    assert repeat["accepted"] == [] and repeat["case_ids"] == [] and repeat["cases"] == []
    assert [d["case_id"] for d in repeat["duplicates"]] == [body["accepted"][0]["case_id"]]
    assert Image.objects.count() == 2


def test_every_file_rejected_is_400_with_each_reason_and_nothing_stored(uploader, data_dir, media_dir):
    response = uploader.post(
        URL,
        {
            "files": [
                SimpleUploadedFile("notes.txt", b"not an image\n", content_type="text/plain"),
                _file(data_dir, f"{PYDICOM}/MR_truncated.dcm"),
            ]
        },
    )
    body = _error(response, 400, "rejected")
    assert "Every file was rejected" in body["message"]
    assert set(body["errors"]) == {"file-001", "file-002.dcm"}
    assert all(reasons and reasons[0] for reasons in body["errors"].values())
    _nothing_stored(media_dir)
    # The report is kept: the batch says what was refused and why.
    assert IntakeBatch.objects.get().rejected_count == 2


def test_curator_names_the_site_by_code(curator, other_site, token_client, data_dir, media_dir):
    client = token_client(curator, "read,upload")
    missing = _error(client.post(URL, {"files": _brain(data_dir, 1), "task": "brain_mri"}), 400, "invalid")
    assert list(missing["errors"]) == ["site"]
    unknown = client.post(URL, {"files": _brain(data_dir, 1), "task": "brain_mri", "site": "nowhere"})
    assert list(_error(unknown, 400, "invalid")["errors"]) == ["site"]
    _nothing_stored(media_dir)
    ok = client.post(URL, {"files": _brain(data_dir, 1), "task": "brain_mri", "site": "cc-oncology"})
    assert ok.status_code == 201, ok.content
    assert Case.objects.get().site == other_site


def test_an_account_with_a_site_may_not_name_another(uploader, other_site, data_dir, media_dir):
    body = _error(
        uploader.post(URL, {"files": _brain(data_dir, 1), "task": "brain_mri", "site": "cc-oncology"}),
        400,
        "invalid",
    )
    assert list(body["errors"]) == ["site"]
    _nothing_stored(media_dir)
    own = uploader.post(URL, {"files": _brain(data_dir, 1), "task": "brain_mri", "site": "uh-radiology"})
    assert own.status_code == 201


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"task": "brain_mri"}, "files"),
        ({"task": "liver_us", "files": "brain"}, "task"),
        ({"files": "brain", "taks": "brain_mri"}, "taks"),
        ({"files": "brain", "scan": "brain"}, "scan"),  # a file under an unknown name
        ({"files": "brain", "patient_ref": "bad\x07ref"}, "patient_ref"),
    ],
)
def test_bad_fields_are_400_and_store_nothing(uploader, data_dir, media_dir, data, field):
    data = {k: (_brain(data_dir, 1) if v == "brain" else v) for k, v in data.items()}
    body = _error(uploader.post(URL, data), 400, "invalid")
    assert list(body["errors"]) == [field]
    _nothing_stored(media_dir)
    assert not IntakeBatch.objects.exists()


def test_no_files_says_so(uploader):
    body = _error(uploader.post(URL, {}), 400, "invalid")
    assert "No files" in body["message"]


def test_oversized_body_is_413_before_it_is_read(
    uploader, anonymous_client, data_dir, settings, mocker, media_dir
):
    settings.INTAKE_MAX_REQUEST_BYTES = 2048
    parse = mocker.patch(
        "django.http.multipartparser.MultiPartParser.parse", side_effect=AssertionError("the body was read")
    )
    body = _error(
        uploader.post(URL, {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]}), 413, "too_large"
    )
    assert "over the 2.0\xa0KB limit" in body["message"]
    # Before authentication too: nobody's oversized body is read.
    _error(
        anonymous_client.post(URL, {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]}), 413, "too_large"
    )
    parse.assert_not_called()
    _nothing_stored(media_dir)
    assert not IntakeBatch.objects.exists()


def test_wrong_content_type_is_415(uploader):
    body = _error(uploader.post(URL, {"files": ["x"]}, format="json"), 415, "unsupported_media_type")
    assert "application/json" in body["message"]


def test_broken_multipart_is_400(uploader):
    response = uploader.generic(
        "POST", URL, b'--xyz\r\nContent-Disposition: form-data; name="files"; filena', "multipart/form-data"
    )
    _error(response, 400, "parse_error")


def test_too_many_files_is_400_with_the_limit_and_nothing_is_stored(uploader, data_dir, settings, media_dir):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    response = uploader.post(URL, {"files": _brain(data_dir, 3), "task": "brain_mri"})
    body = _error(response, 400, "too_many_parts")
    assert body["message"] == "Too many files in one upload (the limit is 2). Nothing was stored."
    assert not IntakeBatch.objects.exists()
    _nothing_stored(media_dir)
    # At the limit the same files go in: the number of files is what refused them, not the files.
    response = uploader.post(URL, {"files": _brain(data_dir, 2), "task": "brain_mri"})
    assert response.status_code == 201, response.content
    assert len(response.json()["accepted"]) == 2


def test_who_may_upload(
    reviewer, radiologist, integration, token_client, anonymous_client, data_dir, media_dir
):
    denied = _error(
        token_client(reviewer, "read,upload").post(URL, {"files": _brain(data_dir, 1)}),
        403,
        "permission_denied",
    )
    assert "cannot upload" in denied["message"]
    scope = _error(
        token_client(radiologist, "read").post(URL, {"files": _brain(data_dir, 1)}), 403, "permission_denied"
    )
    assert "'upload' scope" in scope["message"]
    _error(anonymous_client.post(URL, {"files": _brain(data_dir, 1)}), 401, "not_authenticated")
    _nothing_stored(media_dir)
    ok = token_client(integration, "upload").post(URL, {"files": _brain(data_dir, 1), "task": "brain_mri"})
    assert ok.status_code == 201, ok.content


def test_a_browser_session_upload_needs_its_csrf_token(radiologist, data_dir, media_dir):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(radiologist)
    body = _error(
        browser.post(URL, {"files": _brain(data_dir, 1), "task": "brain_mri"}), 403, "permission_denied"
    )
    assert "CSRF" in body["message"]
    _nothing_stored(media_dir)


# --- the report again --------------------------------------------------------------------


def test_upload_report_is_the_uploaders_and_curators_only(
    uploader, radiologist, make_user, curator, token_client, site, data_dir
):
    report_url = uploader.post(URL, {"files": _brain(data_dir, 1), "task": "brain_mri"}).json()["report_url"]
    colleague = make_user("rad-b", "Radiologist", site)
    _error(token_client(colleague).get(report_url), 404, "not_found")
    assert token_client(curator).get(report_url).status_code == 200
    _error(uploader.get("/api/v1/uploads/6f1c2a9e-3d4b-4e8f-9a31-5b7c0d2e8f14/"), 404, "not_found")
    _error(uploader.get("/api/v1/uploads/not-a-uuid/"), 404, "not_found")


# --- reading studies ---------------------------------------------------------------------


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


def test_studies_list_and_detail_show_the_sites_studies(
    radiologist,
    other_site,
    make_case,
    token_client,
):
    mine = make_case(radiologist.site, images=3, modality="CT")
    theirs = make_case(other_site)
    client = token_client(radiologist)
    response = client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["next"] is None and [s["id"] for s in body["results"]] == [mine.study_id]
    study = body["results"][0]
    assert study["study_instance_uid"] == mine.study.study_instance_uid
    assert study["patient"] == mine.study.patient.pseudonym
    assert study["site"] == "uh-radiology" and study["modality"] == "CT" and study["body_part"] == "CHEST"
    assert study["case"] == {"id": mine.pk, "url": f"http://testserver/api/v1/cases/{mine.pk}/"}
    (series,) = study["series"]
    assert series["modality"] == "CT"
    assert [i["instance_number"] for i in series["images"]] == [1, 2, 3]
    assert [i["id"] for i in series["images"]] == list(
        mine.images.order_by("pk").values_list("pk", flat=True)
    )
    assert study["url"] == f"http://testserver/api/v1/studies/{mine.study_id}/"
    assert client.get(study["url"]).json() == study
    # Another site's study is not found, and its 404 says nothing of it.
    missing = client.get(f"{URL}{theirs.study_id}/")
    _error(missing, 404, "not_found")
    assert theirs.study.study_instance_uid not in missing.content.decode()


def test_studies_pages_and_query_count_do_not_grow_with_the_studies(
    radiologist,
    make_case,
    token_client,
):
    client = token_client(radiologist)

    def count() -> int:
        client.get(URL)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL).status_code == 200
        return len(queries)

    for _ in range(3):
        make_case(radiologist.site, images=2)
    small = count()
    for _ in range(27):
        make_case(radiologist.site, images=2)
    assert count() == small
    first = client.get(URL, {"page_size": 20}).json()
    rest = client.get(first["next"]).json()
    ids = [s["id"] for s in first["results"] + rest["results"]]
    assert sorted(ids, reverse=True) == ids and set(ids) == set(Study.objects.values_list("pk", flat=True))
