"""The try-out's services: a stored, de-identified upload queued after commit, refusals, clean failures."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pydicom
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cases.models import Task
from inference.models import TryOut
from inference.tryout.services import tryout_start
from oncoportal.exceptions import InvalidInput
from tests.inference.conftest import files_under

pytestmark = pytest.mark.django_db


def test_start_stores_a_deidentified_dicom_before_the_row_and_queues_after_commit(
    start, radiologist, random_model, data_dir, media_dir, settings
):
    path = data_dir / "dicom" / "pydicom" / "MR_small.dcm"
    original = pydicom.dcmread(path)
    assert str(original.PatientName)  # the sample has a (test) name to remove
    started = timezone.now()
    created = start(radiologist, path)
    start.delay.assert_called_once_with(str(created.pk))
    assert created.status == TryOut.Status.QUEUED and created.kind == "dicom"
    assert created.model_version == random_model and created.untrained
    assert created.storage_prefix == f"tryout/{created.pk}"
    assert files_under(media_dir) == [f"tryout/{created.pk}/display.png", f"tryout/{created.pk}/source.dcm"]
    stored = pydicom.dcmread(io.BytesIO(default_storage.open(created.file.name).read()))
    assert str(stored.PatientName) != str(original.PatientName)
    assert stored.PatientIdentityRemoved == "YES"
    # Kept for TRYOUT_TTL_SECONDS from its start: between the call and the row's own creation time.
    ttl = timedelta(seconds=settings.TRYOUT_TTL_SECONDS)
    assert started + ttl <= created.expires_at <= created.created_at + ttl


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("notes.txt", b"not an image at all", "not a DICOM file or a supported image"),
        ("empty.png", b"", "empty file"),
        ("study.zip", "zip", "zip archive: a try-out takes one image"),
    ],
)
def test_bad_files_are_refused_with_the_intakes_reason_and_nothing_is_stored(
    radiologist, random_model, media_dir, mocker, name, data, reason
):
    if data == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as zf:
            zf.writestr("a.dcm", b"x")
        data = buffer.getvalue()
    delay = mocker.patch("inference.tryout.services.run_tryout.delay")
    with pytest.raises(InvalidInput, match=reason):
        tryout_start(user=radiologist, task=Task.BRAIN_MRI, upload=SimpleUploadedFile(name, data))
    assert not TryOut.objects.exists() and files_under(media_dir) == []
    delay.assert_not_called()


def test_a_task_needs_an_active_model(radiologist, random_model, glioma, media_dir):
    for task, reason in [
        (Task.LUNG_CT, "No model is active"),
        ("colon", "Unknown task"),
        (Task.UNASSIGNED, "Unknown"),
    ]:
        with pytest.raises(InvalidInput, match=reason):
            tryout_start(
                user=radiologist, task=task, upload=SimpleUploadedFile(glioma.name, glioma.read_bytes())
            )
    assert not TryOut.objects.exists() and files_under(media_dir) == []


def test_a_failed_row_write_removes_the_files(radiologist, random_model, glioma, media_dir, mocker):
    mocker.patch("inference.tryout.services.TryOut.objects.create", side_effect=RuntimeError("db down"))
    with pytest.raises(RuntimeError):
        tryout_start(
            user=radiologist, task=Task.BRAIN_MRI, upload=SimpleUploadedFile("a.jpg", glioma.read_bytes())
        )
    assert files_under(media_dir) == []
