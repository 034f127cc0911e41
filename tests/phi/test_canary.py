"""The PHI canary test: a canary in every place identity hides, through every way in; none is stored in clear.

Uploads carry one canary string in every text attribute the profile removes,
empties or replaces, in an attribute the data dictionary does not know
((0010,0099) LO), in a private block, in COM/APPn segments inside the
compressed JPEG frames and COM segments in a JPEG 2000 frame's main and
tile-part headers, in a plain JPEG's COM/APP1/APP2 (ICC)/APP15 segments, in a
PNG's text chunks, iCCP name and a private chunk, in every file name and in
the patient reference. They go in through the web upload page, the REST API
and STOW-RS; predictions then run on every image (the worker's pipeline) and
the case, header and upload pages are drawn. After that no stored byte under
the media and var folders, no text column of any table and no log record
holds the canary, and no page shows it. Pseudonyms (the keyed hash of the
patient ID) are what the profile keeps in its place.
"""

from __future__ import annotations

import io
import json
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.urls import reverse
from PIL import Image as PILImage
from PIL import ImageCms, PngImagePlugin
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.encaps import encapsulate, generate_frames

from oncocore.imaging import DeidOptions
from oncocore.imaging.deid_table import action_plan
from tests.dicomweb.conftest import multipart_related

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore::UserWarning")]

CANARY = "QXZCANARY"  # fits SH (16) and AE; upper case, so CS-safe too
_TEXT_VRS = {"LO", "SH", "LT", "ST", "UT", "PN", "UC"}


def _acted_on_text_tags() -> list[int]:
    """Every text attribute Table E.1-1 removes, empties, replaces or dummies under our options."""
    plan = action_plan(DeidOptions().option_columns())
    return sorted(
        tag
        for tag, action in plan.exact.items()
        if action != "K" and keyword_for_tag(tag) and dictionary_VR(tag) in _TEXT_VRS
    )


def _segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def _com(text: bytes) -> bytes:
    """A JPEG 2000 COM marker segment, Rcom 1 (Latin-1 text)."""
    return b"\xff\x64" + struct.pack(">HH", len(text) + 4, 1) + text


def _tag_jpeg(frame: bytes) -> bytes:
    return (
        frame[:2]
        + _segment(0xFE, CANARY.encode())
        + _segment(0xE1, b"Exif\x00\x00" + CANARY.encode())
        + frame[2:]
    )


def _tag_j2k(frame: bytes) -> bytes:
    """A COM canary after SIZ (main header) and one after SOT (tile-part header, Psot grown to match)."""
    siz_end = 4 + struct.unpack(">H", frame[4:6])[0]
    frame = frame[:siz_end] + _com(CANARY.encode()) + frame[siz_end:]
    sot = frame.index(b"\xff\x90\x00\x0a")
    (psot,) = struct.unpack(">I", frame[sot + 6 : sot + 10])
    extra = _com(CANARY.encode())
    psot_new = struct.pack(">I", psot + len(extra) if psot else 0)
    return frame[: sot + 6] + psot_new + frame[sot + 10 : sot + 12] + extra + frame[sot + 12 :]


def _canary_dicom(data_dir: Path, n: int, *, j2k: bool = False) -> bytes:
    """A JPEG-baseline (or JPEG 2000) DICOM with canaries in the header and in its real frame's segments."""
    sample = "MR_small_jp2klossless.dcm" if j2k else "SC_rgb_jpeg_dcmtk.dcm"
    ds = pydicom.dcmread(data_dir / "dicom" / "pydicom" / sample)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    tagged = _tag_j2k(frame) if j2k else _tag_jpeg(frame)
    ds.PixelData = encapsulate([tagged], has_bot=True)
    ds["PixelData"].is_undefined_length = True
    for tag in _acted_on_text_tags():
        if tag in (0x00100020, 0x00100021):  # Patient ID and its issuer: hashed, set below
            continue
        ds.add_new(tag, dictionary_VR(tag), f"{CANARY}{n}" if dictionary_VR(tag) != "PN" else f"{CANARY}^{n}")
    ds.PatientID = f"{CANARY}-MRN-{n}"
    ds.IssuerOfPatientID = f"{CANARY} HOSPITAL"
    ds.add_new(0x00100099, "LO", f"{CANARY} unknown public")  # not in the dictionary
    block = ds.private_block(0x0009, f"{CANARY} VENDOR", create=True)
    block.add_new(0x01, "LO", f"{CANARY} private")
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.StudyInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf)
    data = buf.getvalue()
    assert data.count(CANARY.encode()) > 100
    return data


def _canary_jpeg(seed: int) -> bytes:
    rgb = np.random.default_rng(seed).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = PILImage.Exif()
    exif[0x013B] = CANARY  # Artist
    buf = io.BytesIO()
    PILImage.fromarray(rgb).save(buf, "JPEG", exif=exif.tobytes(), comment=CANARY.encode(), icc_profile=icc)
    data = buf.getvalue()
    return data[:2] + _segment(0xEF, CANARY.encode()) + _segment(0xE3, CANARY.encode()) + data[2:]


def _canary_png(seed: int) -> bytes:
    grey = np.random.default_rng(seed).integers(0, 255, (48, 48), dtype=np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", CANARY)
    info.add_itxt("Description", CANARY)
    buf = io.BytesIO()
    PILImage.fromarray(grey).save(buf, "PNG", pnginfo=info)
    data = buf.getvalue()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()

    def chunk(ctype: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))

    extra = chunk(b"iCCP", CANARY.encode() + b"\x00\x00" + zlib.compress(icc)) + chunk(
        b"caNy", CANARY.encode()
    )
    return data[:33] + extra + data[33:]


def _stored_bytes_hits(roots: list[Path]) -> list[str]:
    hits = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if CANARY.encode() in data or CANARY.encode() in path.name.encode():
                    hits.append(str(path))
                elif len(data) < 8 << 20 and CANARY.encode() in _maybe_inflated(data):
                    hits.append(f"{path} (compressed)")
    return hits


def _maybe_inflated(data: bytes) -> bytes:
    """PNG zTXt/iCCP and zip members hide text from a plain grep: inflate what looks deflated."""
    out = b""
    for start in range(0, min(len(data), 1 << 16)):
        if data[start] == 0x78 and data[start + 1 : start + 2] in (b"\x01", b"\x5e", b"\x9c", b"\xda"):
            try:
                out += zlib.decompressobj().decompress(data[start:], 1 << 20)
            except zlib.error:
                continue
    return out


def _database_hits() -> list[str]:
    """Every text, JSON and binary column of every table, through the apps registry."""
    hits = []
    kinds = (models.CharField, models.TextField, models.JSONField, models.BinaryField, models.FileField)
    for model in apps.get_models():
        fields = [f.attname for f in model._meta.concrete_fields if isinstance(f, kinds)]
        if not fields:
            continue
        for row in model._default_manager.values_list(*fields):
            for name, value in zip(fields, row, strict=True):
                text = (
                    bytes(value).decode("latin-1")
                    if isinstance(value, memoryview | bytes)
                    else json.dumps(value)
                )
                if CANARY in text:
                    hits.append(f"{model._meta.label}.{name}")
    return hits


def test_no_canary_is_stored_shown_or_logged(
    client,
    radiologist,
    integration,
    token_client,
    data_dir,
    media_dir,
    random_model,
    caplog,
    mocker,
    tmp_path,
    django_capture_on_commit_callbacks,
):
    from cases.models import Case, Image
    from inference.models import Prediction
    from inference.pipeline import predictions_run
    from inference.services import prediction_request

    caplog.set_level(logging.DEBUG)
    mocker.patch("inference.services.run_predictions.delay")
    pages: list[str] = []

    # Web upload: a DICOM, a JPEG and a PNG, each named after the patient, and a patient reference.
    client.force_login(radiologist)
    files = [
        SimpleUploadedFile(f"DOE_{CANARY}_19450101.dcm", _canary_dicom(data_dir, 1)),
        SimpleUploadedFile(f"DOE_{CANARY}_19450101.jpg", _canary_jpeg(1), content_type="image/jpeg"),
        SimpleUploadedFile(f"{CANARY}/scan.png", _canary_png(1), content_type="image/png"),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("cases:upload"), {"task": "brain_mri", "patient_ref": f"{CANARY}-REF", "files": files}
        )
    assert response.status_code == 302, response.content
    page = client.get(response["Location"])
    assert page.status_code == 200 and page.content.decode().count('class="accepted-row"') == 3
    pages.append(page.content.decode())

    # REST API.
    api = token_client(radiologist, "read,upload")
    with django_capture_on_commit_callbacks(execute=True):
        answer = api.post(
            "/api/v1/studies/",
            {
                "files": [
                    SimpleUploadedFile(f"{CANARY}_2.dcm", _canary_dicom(data_dir, 2)),
                    SimpleUploadedFile(f"{CANARY}_2.jpg", _canary_jpeg(2), content_type="image/jpeg"),
                    SimpleUploadedFile(f"{CANARY}_2.png", _canary_png(2), content_type="image/png"),
                ],
                "task": "brain_mri",
                "patient_ref": f"{CANARY}-REF-2",
            },
        )
    assert answer.status_code == 201, answer.content
    pages.append(answer.content.decode())

    # STOW-RS.
    body, ctype = multipart_related([_canary_dicom(data_dir, 3), _canary_dicom(data_dir, 4, j2k=True)])
    stow = token_client(integration, "read,upload")
    with django_capture_on_commit_callbacks(execute=True):
        stored = stow.generic(
            "POST", "/dicomweb/studies", body, content_type=ctype, HTTP_ACCEPT="application/dicom+json"
        )
    assert stored.status_code == 200, stored.content
    pages.append(stored.content.decode())
    assert Image.objects.count() == 8

    # The worker's pipeline on every image: predictions, saliency maps, AI summaries.
    # Intake queued them (the Celery call is mocked: the pipeline runs here, as the worker runs it).
    for case in Case.objects.all():
        with django_capture_on_commit_callbacks(execute=True):
            prediction_request(case=case)  # any image not queued yet
    ids = list(Prediction.objects.values_list("pk", flat=True))
    assert len(ids) >= 6  # the web and API uploads' images (brain_mri); STOW's study has no task
    predictions_run(prediction_ids=ids)
    assert not Prediction.objects.exclude(status=Prediction.Status.DONE).exists()

    # Every page that shows a case or a header.
    for case in Case.objects.all():
        pages.append(client.get(reverse("cases:case_detail", kwargs={"pk": case.pk})).content.decode())
    for image in Image.objects.all():
        header = client.get(reverse("cases:image_header", kwargs={"pk": image.pk}))
        assert header.status_code == 200
        pages.append(header.content.decode())

    # The pseudonyms are there instead of the identity...
    stored_dicom = [i for i in Image.objects.all() if i.file.name.endswith(".dcm")]
    assert len(stored_dicom) == 4
    for image in stored_dicom:
        ds = pydicom.dcmread(image.file.path)
        assert ds.PatientID == image.case.study.patient.pseudonym and ds.PatientIdentityRemoved == "YES"

    # ...and the canary nowhere.
    # The test's media, and the var folder (logs, broker queue, SQLite database when in use).
    var_dir = Path(django_settings.VAR_DIR)
    roots = [media_dir, *([var_dir] if var_dir.exists() else [])]
    assert _stored_bytes_hits(roots) == []
    assert _database_hits() == []
    assert [p for p in pages if CANARY in p] == []
    logged = [r for r in caplog.records if CANARY in r.getMessage() or CANARY in str(r.args)]
    assert logged == []
