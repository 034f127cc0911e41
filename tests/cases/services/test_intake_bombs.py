"""Decompression bombs through the web upload, ``manage.py ingest`` and the REST API (issue 24, items 1 and 6).

Every bomb of the hostile corpus (tests/oncocore/imaging/bombs.py) is a
rejected entry with its reason, never a 5xx, and nothing of it is stored:
no image, no case, no file under MEDIA_ROOT. An honest file uploaded with
them still goes in, so a bomb spoils nothing but itself.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.test import APIClient

from cases.models import Case, Image, IntakeBatch
from tests.oncocore.imaging import bombs

pytestmark = pytest.mark.django_db

OVERLAP = "zip entries #1 and #2 overlap (they share compressed data: a zip-bomb technique)"


def _corpus() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, the start of its rejection reason)."""
    corpus = {
        f"{name}.dcm": (bombs.codestream_bomb(name), f"frame 1: {bombs.KIND[name]} codestream is 512 x 512")
        for name in ("JPEG baseline", "JPEG-LS 16-bit", "JPEG 2000", "HTJ2K")
    }
    corpus["rle.dcm"] = (bombs.rle_bomb(fallback=True), "frame 1: RLE segment 1 expands past")
    corpus["overlap.zip"] = (bombs.overlapping_zip(), OVERLAP)
    return corpus


def _assert_rejected_and_nothing_stored(rejected: dict[str, str], media_dir, *, accepted: int) -> None:
    # Files are named by position (file-001.dcm...), never by the name they were sent under.
    assert all(re.fullmatch(r"file-\d{3}\.(dcm|zip)", name) for name in rejected), rejected
    for _, reason in _corpus().values():
        assert any(r.startswith(reason) for r in rejected.values()), (reason, rejected)
    assert Image.objects.count() == accepted
    stored = [p.name for p in media_dir.rglob("*") if p.is_file()]
    assert not [name for name in stored if name.startswith(("JPEG", "HTJ2K", "rle", "overlap"))]
    if not accepted:
        assert not Case.objects.exists() and not stored


def _honest(data_dir) -> SimpleUploadedFile:
    path = data_dir / "dicom" / "pydicom" / "CT_small.dcm"
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/dicom")


def test_web_upload_lists_each_bomb_with_its_reason_and_stores_only_the_honest_file(
    client, radiologist, data_dir, media_dir
):
    client.force_login(radiologist)
    files = [SimpleUploadedFile(name, data) for name, (data, _) in _corpus().items()]
    response = client.post(reverse("cases:upload"), {"task": "", "files": [*files, _honest(data_dir)]})
    assert response.status_code == 302
    batch = IntakeBatch.objects.get()
    rejected = {r["name"]: r["reason"] for r in batch.report["rejected"]}
    _assert_rejected_and_nothing_stored(rejected, media_dir, accepted=1)
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "codestream is 512 x 512, the header says 64 x 64" in page.content.decode()


def test_cli_ingest_of_a_folder_of_bombs_is_a_clear_error_with_every_reason(
    tmp_path, site, media_dir, capsys
):
    folder = tmp_path / "bombs"
    folder.mkdir()
    for name, (data, _) in _corpus().items():
        (folder / name).write_bytes(data)
    with pytest.raises(CommandError, match="nothing could be ingested"):
        call_command("ingest", str(folder), "--json", "--site", site.code)
    report = json.loads(capsys.readouterr().out)
    rejected = {r["name"]: r["reason"] for r in report["rejected"]}
    _assert_rejected_and_nothing_stored(rejected, media_dir, accepted=0)


def test_rest_api_answers_400_with_every_reason_and_stores_nothing(radiologist, media_dir):
    from api.services.tokens import token_create

    token = token_create(user=radiologist, name="t", scopes="read,upload", expires_in=timedelta(days=1))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.value}")
    files = [SimpleUploadedFile(name, data) for name, (data, _) in _corpus().items()]
    response = api.post("/api/v1/studies/", {"files": files})
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "rejected"
    _assert_rejected_and_nothing_stored({k: v[0] for k, v in body["errors"].items()}, media_dir, accepted=0)


def test_a_zip_holding_a_codestream_bomb_rejects_that_entry_only(client, radiologist, data_dir, media_dir):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("study/bomb.dcm", bombs.codestream_bomb("JPEG-LS"))
        archive.write(data_dir / "dicom" / "pydicom" / "CT_small.dcm", "study/CT_small.dcm")
    client.force_login(radiologist)
    upload = SimpleUploadedFile("study.zip", buffer.getvalue(), content_type="application/zip")
    assert client.post(reverse("cases:upload"), {"task": "", "files": [upload]}).status_code == 302
    batch = IntakeBatch.objects.get()
    assert (batch.accepted_count, batch.rejected_count) == (1, 1)
    assert batch.report["rejected"] == [
        {
            "name": "file-001.dcm",
            "reason": "frame 1: JPEG-LS codestream is 512 x 512, the header says 64 x 64",
            "position": 1,
        }
    ]
