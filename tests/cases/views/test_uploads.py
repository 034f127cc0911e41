"""The upload page and its result page: files, folders, zips, limits and errors."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cases.models import Case, IntakeBatch, Task

pytestmark = pytest.mark.django_db

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PYDICOM = "dicom/pydicom"


def _file(data_dir, relative: str, name: str | None = None) -> SimpleUploadedFile:
    path = data_dir / relative
    return SimpleUploadedFile(name or path.name, path.read_bytes(), content_type="application/dicom")


def _zip(data_dir, *relatives: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in relatives:
            archive.write(data_dir / relative, arcname=f"study/{(data_dir / relative).name}")
    return SimpleUploadedFile("study.zip", buffer.getvalue(), content_type="application/zip")


# --- Upload -------------------------------------------------------------------


def test_upload_page_offers_infer_and_every_task(client, radiologist):
    client.force_login(radiologist)
    page = client.get(reverse("cases:upload")).content.decode()
    assert "Infer from DICOM header" in page
    for value, _label in Task.choices:
        assert f'value="{value}"' in page
    assert "webkitdirectory" in page and 'name="files"' in page
    assert 'name="site"' not in page  # the radiologist's site is implied


def test_upload_mixed_files_lists_accepted_and_rejected_with_reasons(client, radiologist, data_dir, site):
    client.force_login(radiologist)
    response = client.post(
        reverse("cases:upload"),
        {
            "task": "",
            "files": [
                _file(data_dir, f"{PYDICOM}/CT_small.dcm"),
                _file(data_dir, f"{PYDICOM}/MR_small.dcm"),
                _file(data_dir, f"{PYDICOM}/MR_truncated.dcm"),
                SimpleUploadedFile("notes.txt", b"this is not an image\n", content_type="text/plain"),
                _zip(data_dir, f"{PYDICOM}/JPGExtended.dcm", f"{PYDICOM}/rtplan.dcm"),
            ],
        },
    )
    batch = IntakeBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("cases:upload_result", kwargs={"batch_id": batch.pk})
    assert batch.site == site and batch.uploaded_by == radiologist and batch.source == "web"
    assert batch.accepted_count == 3  # CT, MR and the JPEG-extended file from the zip
    assert batch.rejected_count == 3  # truncated, text file, RT plan without pixels

    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('class="accepted-row"') == 3
    assert html.count('class="rejected-row"') == 3
    # Each file is listed under its position in the upload (zip entries in archive order),
    # never under the name it was sent with, which may be the patient's.
    for name in ("file-001.dcm", "file-002.dcm", "file-003.dcm", "file-004", "file-005.dcm", "file-006.dcm"):
        assert name in html
    for name in ("CT_small", "MR_small", "JPGExtended", "notes", "MR_truncated", "rtplan"):
        assert name not in html and name not in json.dumps(batch.report)
    reasons = {item["name"]: item["reason"] for item in batch.report["rejected"]}
    for reason in reasons.values():
        assert reason and reason in html
    assert "not a DICOM" in reasons["file-004"]
    assert "truncated" in reasons["file-003.dcm"].lower()
    for case_id in batch.report["case_ids"]:
        assert reverse("cases:case_detail", kwargs={"pk": case_id}) in html


def test_upload_stores_no_path_sent_by_the_script(client, radiologist, data_dir):
    client.force_login(radiologist)
    response = client.post(
        reverse("cases:upload"),
        {
            "files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm"), _file(data_dir, f"{PYDICOM}/MR_small.dcm")],
            "paths": json.dumps(["patient1/ct/CT_small.dcm", "../../etc/MR_small.dcm"]),
        },
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    report = IntakeBatch.objects.get().report
    assert sorted(item["name"] for item in report["accepted"]) == ["file-001.dcm", "file-002.dcm"]
    assert "patient1" not in json.dumps(report) and "patient1" not in response.content.decode()


def test_upload_rejects_malformed_paths(client, radiologist, data_dir):
    client.force_login(radiologist)
    response = client.post(
        reverse("cases:upload"),
        {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")], "paths": json.dumps({"a": 1})},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert "paths" in response.json()["errors"]


def test_upload_json_mode_returns_result_url(client, radiologist, data_dir):
    client.force_login(radiologist)
    response = client.post(
        reverse("cases:upload"),
        {"task": "lung_ct", "files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]},
        HTTP_ACCEPT="application/json",
    )
    batch = IntakeBatch.objects.get()
    assert response.status_code == 200
    body = response.json()
    assert body["result_url"] == reverse("cases:upload_result", kwargs={"batch_id": batch.pk})
    assert body["accepted"] == 1 and body["rejected"] == 0
    assert Case.objects.get().task == Task.LUNG_CT


def test_upload_plain_images_links_patient_reference(client, radiologist, brain_jpeg):
    client.force_login(radiologist)
    files = [SimpleUploadedFile(brain_jpeg.name, brain_jpeg.read_bytes(), content_type="image/jpeg")]
    response = client.post(
        reverse("cases:upload"),
        {"task": "brain_mri", "patient_ref": "MRN 12345", "files": files},
        follow=True,
    )
    case = Case.objects.get()
    assert case.task == Task.BRAIN_MRI and not case.study.is_dicom
    assert case.study.patient is not None
    assert "MRN 12345" not in case.study.patient.pseudonym
    html = response.content.decode()
    assert "Plain images" in html and "file-001.jpg" in html and brain_jpeg.name not in html


def test_upload_over_the_size_limit_is_413_before_reading_the_body(
    client, radiologist, data_dir, settings, mocker
):
    settings.INTAKE_MAX_REQUEST_BYTES = 2048
    parse = mocker.patch(
        "django.http.multipartparser.MultiPartParser.parse", side_effect=AssertionError("read")
    )
    client.force_login(radiologist)
    response = client.post(reverse("cases:upload"), {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]})
    assert response.status_code == 413
    assert "over the 2.0\xa0KB limit" in response.content.decode()
    parse.assert_not_called()
    assert not IntakeBatch.objects.exists()

    as_json = client.post(
        reverse("cases:upload"),
        {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]},
        HTTP_ACCEPT="application/json",
    )
    assert as_json.status_code == 413
    assert "limit" in as_json.json()["error"]


def test_upload_without_files_is_400_with_reason(client, radiologist):
    client.force_login(radiologist)
    response = client.post(reverse("cases:upload"), {"task": ""})
    assert response.status_code == 400
    assert "Choose at least one file" in response.content.decode()
    as_json = client.post(reverse("cases:upload"), {"task": ""}, HTTP_ACCEPT="application/json")
    assert as_json.status_code == 400
    assert "files" in as_json.json()["errors"]
    assert not IntakeBatch.objects.exists()


def test_upload_with_unknown_task_is_400(client, radiologist, data_dir):
    client.force_login(radiologist)
    response = client.post(
        reverse("cases:upload"),
        {"task": "liver_us", "files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]},
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 400
    assert "task" in response.json()["errors"]
    assert not IntakeBatch.objects.exists()


def test_curator_without_site_must_choose_one(client, curator, other_site, data_dir):
    client.force_login(curator)
    assert 'name="site"' in client.get(reverse("cases:upload")).content.decode()
    missing = client.post(reverse("cases:upload"), {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]})
    assert missing.status_code == 400
    bogus = client.post(
        reverse("cases:upload"), {"site": 999999, "files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]}
    )
    assert bogus.status_code == 400
    ok = client.post(
        reverse("cases:upload"),
        {"site": other_site.pk, "files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]},
    )
    assert ok.status_code == 302
    assert Case.objects.get().site == other_site


def test_upload_enforces_csrf(radiologist, data_dir):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(radiologist)
    response = strict.post(reverse("cases:upload"), {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]})
    assert response.status_code == 403
    assert not IntakeBatch.objects.exists()


# --- Worklist -------------------------------------------------------------------


def test_upload_is_audited_as_web(client, radiologist, data_dir):
    from cases.models import AuditEvent

    client.force_login(radiologist)
    client.post(reverse("cases:upload"), {"files": [_file(data_dir, f"{PYDICOM}/CT_small.dcm")]})
    event = AuditEvent.objects.get(action="intake.batch")
    assert (event.source, event.actor, event.ip_address) == ("web", radiologist, "127.0.0.1")


def test_upload_with_too_many_files_says_so_and_stores_nothing(
    client, radiologist, data_dir, settings, media_dir
):
    from cases.models import Image

    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 2
    client.force_login(radiologist)
    names = ["CT_small.dcm", "MR_small.dcm", "JPGExtended.dcm"]

    def files(n: int) -> list[SimpleUploadedFile]:
        return [_file(data_dir, f"{PYDICOM}/{name}") for name in names[:n]]

    url = reverse("cases:upload")
    response = client.post(url, {"files": files(3)}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json()["error"].startswith(
        "Too many files in one upload (the limit is 2). Nothing was stored."
    )
    page = client.post(url, {"files": files(3)})
    assert (
        page.status_code == 400 and "Too many files in one upload (the limit is 2)." in page.content.decode()
    )
    assert not IntakeBatch.objects.exists() and not Image.objects.exists() and not Case.objects.exists()
    assert not [p for p in media_dir.rglob("*") if p.is_file()]
    # At the limit the same files go in: the number of files is what refused them, not the files.
    response = client.post(url, {"files": files(2)}, HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response.json()["accepted"] == 2
