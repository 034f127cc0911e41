"""Intake refusals at the Django side (issue 24 item 7): names, special files, other-site oracle.

Each entry point (web upload, REST API, STOW-RS, ``manage.py ingest``) gets the
same answer from the one intake service: a name that is not UTF-8 never breaks
a page, a FIFO never hangs an import, and an upload that collides with what
another site holds is refused in words that say nothing about that site.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pydicom
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from pydicom.uid import generate_uid
from rest_framework.test import APIClient

from cases.models import AuditEvent, Image, IntakeBatch
from cases.services.intake import intake_sources
from cases.services.intake_store import REFUSED_HERE
from dicomweb.dicom_json import REASON_TAG
from tests.dicomweb.conftest import multipart_related

pytestmark = pytest.mark.django_db

MR = "pydicom/MR_small.dcm"
REPLACEMENT = "\N{REPLACEMENT CHARACTER}"


@pytest.fixture
def no_hang() -> Iterator[None]:
    """A hang (the old behaviour on a FIFO) fails the test instead of stalling the suite."""

    def fail(*_: object) -> None:
        raise AssertionError("the import blocked on a FIFO")

    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(300)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# --- manage.py ingest: names that are not UTF-8, FIFOs --------------------------------------------


def test_a_non_utf8_file_name_from_the_cli_never_breaks_the_batch_pages(
    data_dir, site, curator, client, tmp_path, capsys
):
    folder = tmp_path / "incoming"
    folder.mkdir()
    raw_name = os.fsencode(folder) + b"/IRM-caf\xe9-\xff.dcm"  # Latin-1 bytes on a UTF-8 file system
    shutil.copy(data_dir / "dicom" / MR, raw_name)
    (folder / "readme.txt").write_text("not an image")
    with open(os.fsencode(folder) + b"/\xfe\xfe.txt", "wb") as fh:
        fh.write(b"not an image either")

    call_command("ingest", str(folder), "--site", site.code)
    out = capsys.readouterr().out
    assert f"IRM-caf{REPLACEMENT}-{REPLACEMENT}.dcm" not in out  # accepted: not listed

    batch = IntakeBatch.objects.get()
    assert (batch.accepted_count, batch.rejected_count) == (1, 2)
    # Stored under neutral names by position (the walk's sorted order); the raw names reach no page.
    names = {item["name"] for key in ("accepted", "rejected") for item in batch.report[key]}
    assert names == {"file-001.dcm", "file-002", "file-003"}
    client.force_login(curator)
    for url in (
        reverse("cases:upload_result", kwargs={"batch_id": batch.pk}),
        reverse("admin:cases_intakebatch_changelist"),
        reverse("admin:cases_intakebatch_change", args=[batch.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(reverse("cases:upload_result", kwargs={"batch_id": batch.pk})).content.decode()
    assert "file-001.dcm" in page


def test_ingest_refuses_a_fifo_with_one_line_and_still_writes_the_batch_and_its_audit(
    data_dir, site, tmp_path, capsys, no_hang
):
    folder = tmp_path / "incoming"
    folder.mkdir()
    shutil.copy(data_dir / "dicom" / MR, folder / "MR_small.dcm")
    os.mkfifo(folder / "pipe.dcm")

    call_command("ingest", str(folder), "--site", site.code)
    out = capsys.readouterr().out
    assert "rejected  pipe.dcm: not a regular file (a named pipe (FIFO)): skipped" in out.splitlines()
    batch = IntakeBatch.objects.get()
    assert (batch.accepted_count, batch.rejected_count) == (1, 1)
    assert AuditEvent.objects.filter(action="intake.batch", object_id=str(batch.pk)).exists()


# --- Another site's objects: one refusal, whatever collided ---------------------------------------


def _encoded(ds: pydicom.Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _collisions(data_dir: Path) -> dict[str, bytes]:
    """Files that collide with MR_small as stored by another site, each in its own way."""
    original = (data_dir / "dicom" / MR).read_bytes()
    same_study = pydicom.dcmread(io.BytesIO(original))
    same_study.SOPInstanceUID = same_study.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    same_series = pydicom.dcmread(io.BytesIO(original))
    same_series.SOPInstanceUID = same_series.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    same_series.StudyInstanceUID = generate_uid()
    return {
        "same bytes": original,
        "same instance": (data_dir / "dicom" / "pydicom/MR_small_implicit.dcm").read_bytes(),
        "same study": _encoded(same_study),
        "same series": _encoded(same_series),
    }


@pytest.fixture
def held_elsewhere(data_dir, other_site, other_radiologist) -> None:
    report = intake_sources(
        uploads=[("MR_small.dcm", (data_dir / "dicom" / MR).read_bytes())],
        site=other_site,
        user=other_radiologist,
        source="web",
    )
    assert report.accepted


COLLISIONS = ["same bytes", "same instance", "same study", "same series"]


@pytest.mark.parametrize("collision", COLLISIONS)
def test_the_web_upload_refuses_another_sites_object_without_saying_so(
    collision, held_elsewhere, data_dir, client, radiologist
):
    client.force_login(radiologist)
    upload = SimpleUploadedFile("mine.dcm", _collisions(data_dir)[collision])
    response = client.post(reverse("cases:upload"), {"task": "", "files": [upload]})
    assert response.status_code == 302
    batch = IntakeBatch.objects.get(site=radiologist.site)
    assert batch.report["rejected"] == [{"name": "file-001.dcm", "reason": REFUSED_HERE, "position": 1}]
    assert batch.report["duplicates"] == [] and batch.report["accepted"] == []
    page = client.get(response["Location"]).content.decode()
    assert "another site" not in page and "already" not in page
    assert Image.objects.count() == 1


@pytest.mark.parametrize("collision", COLLISIONS)
def test_the_rest_api_refuses_another_sites_object_without_saying_so(
    collision, held_elsewhere, data_dir, radiologist
):
    from api.services.tokens import token_create

    token = token_create(user=radiologist, name="t", scopes="read,upload", expires_in=timedelta(days=1))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.value}")
    upload = SimpleUploadedFile("mine.dcm", _collisions(data_dir)[collision])
    response = api.post("/api/v1/studies/", {"files": [upload]})
    assert response.status_code == 400, response.content
    assert response.json()["errors"] == {"file-001.dcm": [REFUSED_HERE]}


@pytest.fixture
def stow_as(integration) -> Callable[[bytes], object]:
    from api.services.tokens import token_create

    token = token_create(user=integration, name="t", scopes="read,upload", expires_in=timedelta(days=1))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.value}")

    def post(data: bytes) -> object:
        body, ctype = multipart_related([data])
        return api.generic(
            "POST",
            "/dicomweb/studies",
            body,  # type: ignore[arg-type]  # the stub says str; Django sends bytes as they are
            content_type=ctype,
            HTTP_ACCEPT="application/dicom+json",
        )

    return post


def _stow_answer(response) -> tuple[int, list[tuple[int, str]]]:
    """The status and, per failed instance, its Failure Reason code and text: all but the UIDs the client sent."""
    body = response.json()
    failed = body.get("00081198", {}).get("Value", [])
    return response.status_code, [
        (item["00081197"]["Value"][0], str(item.get(REASON_TAG, {}).get("Value", [""])[0])) for item in failed
    ]


def test_stow_gives_one_answer_for_every_kind_of_collision_with_another_site(
    held_elsewhere, data_dir, stow_as
):
    answers = {name: _stow_answer(stow_as(data)) for name, data in _collisions(data_dir).items()}
    assert len(set(map(repr, answers.values()))) == 1, answers
    status, [(code, text)] = answers["same bytes"]
    assert code == 0x0110 and status in (400, 409)
    assert text == REFUSED_HERE


def test_a_duplicate_of_the_own_site_still_names_its_case(data_dir, site, radiologist):
    upload = [("MR_small.dcm", (data_dir / "dicom" / MR).read_bytes())]
    first = intake_sources(uploads=upload, site=site, user=radiologist, source="web")
    again = intake_sources(uploads=upload, site=site, user=radiologist, source="web")
    [item] = again.items
    assert item.status == "duplicate" and f"case {first.case_ids[0]}" in item.reason


# --- The web upload: a file name that is not UTF-8 ------------------------------------------------


def _form_body(boundary: bytes, files: list[tuple[bytes, bytes]]) -> bytes:
    """A multipart/form-data body written by hand: the test client would encode the names as UTF-8."""
    chunks = [b"--" + boundary + b'\r\nContent-Disposition: form-data; name="task"\r\n\r\n\r\n']
    for raw_name, data in files:
        chunks.append(
            b"--" + boundary + b'\r\nContent-Disposition: form-data; name="files"; filename="' + raw_name
        )
        chunks.append(b'"\r\nContent-Type: application/dicom\r\n\r\n' + data + b"\r\n")
    return b"".join(chunks) + b"--" + boundary + b"--\r\n"


def test_a_latin1_file_name_in_a_web_upload_is_ingested_under_its_display_name(data_dir, client, radiologist):
    client.force_login(radiologist)
    data = (data_dir / "dicom" / MR).read_bytes()
    body = _form_body(b"XyZ", [(b"IRM-caf\xe9.dcm", data)])
    response = client.post(reverse("cases:upload"), body, content_type="multipart/form-data; boundary=XyZ")
    assert response.status_code == 302, response.content[:300]  # not "choose at least one file"
    batch = IntakeBatch.objects.get()
    assert [item["name"] for item in batch.report["accepted"]] == ["file-001.dcm"]  # stored by position
    assert client.get(response["Location"]).status_code == 200
