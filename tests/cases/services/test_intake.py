"""The intake service end to end on real files: storage, rows, idempotency, atomicity, PHI."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.apps import apps
from django.db import connection
from pydicom.uid import generate_uid

from cases.models import AuditEvent, Case, Image, IntakeBatch, Patient, Series, Study, Task
from cases.services.intake import intake_sources
from cases.services.intake_store import REFUSED_HERE

pytestmark = pytest.mark.django_db


def _read(data_dir: Path, name: str) -> tuple[str, bytes]:
    path = data_dir / "dicom" / name
    return path.name, path.read_bytes()


def _stored_files(media_dir: Path) -> list[Path]:
    return sorted(p for p in media_dir.rglob("*") if p.is_file())


def test_dicom_study_is_stored_with_files_before_rows(data_dir, site, radiologist, media_dir):
    report = intake_sources(
        uploads=[_read(data_dir, "pydicom/CT_small.dcm")], site=site, user=radiologist, source="web"
    )
    assert [i.status for i in report.items] == ["accepted"]
    image = Image.objects.get()
    assert image.rows == 128 and image.cols == 128 and image.frames == 1
    assert image.case.study.modality == "CT"
    assert image.case.site == site and image.case.status == "received"
    for field in (image.file, image.display, image.thumbnail):
        assert (media_dir / field.name).is_file()
    assert image.series.study.study_instance_uid == report.items[0].study_instance_uid
    assert IntakeBatch.objects.get().accepted_count == 1
    assert AuditEvent.objects.filter(action="case.created", object_id=str(image.case_id)).exists()


def test_reupload_adds_nothing_and_says_so(data_dir, site, radiologist, media_dir):
    upload = [_read(data_dir, "pydicom/MR_small.dcm")]
    intake_sources(uploads=upload, site=site, user=radiologist, source="web")
    files_before = _stored_files(media_dir)
    again = intake_sources(uploads=upload, site=site, user=radiologist, source="web")
    assert [i.status for i in again.items] == ["duplicate"]
    assert "already" in again.items[0].reason
    assert Image.objects.count() == 1 and Case.objects.count() == 1
    assert _stored_files(media_dir) == files_before


def test_same_sop_instance_in_another_encoding_is_a_duplicate(data_dir, site, radiologist):
    # MR_small and its big-endian/implicit twins share the SOP Instance UID.
    first = intake_sources(
        uploads=[_read(data_dir, "pydicom/MR_small.dcm")], site=site, user=radiologist, source="web"
    )
    twin = intake_sources(
        uploads=[_read(data_dir, "pydicom/MR_small_implicit.dcm")], site=site, user=radiologist, source="web"
    )
    assert first.items[0].status == "accepted"
    assert twin.items[0].status == "duplicate"
    assert "SOP Instance UID" in twin.items[0].reason


def test_batch_with_a_bad_file_keeps_the_good_ones_and_stores_nothing_half(
    data_dir, site, radiologist, media_dir
):
    report = intake_sources(
        uploads=[
            _read(data_dir, "pydicom/CT_small.dcm"),
            _read(data_dir, "pydicom/MR_truncated.dcm"),
            ("notes.txt", b"this is not an image"),
        ],
        site=site,
        user=radiologist,
        source="web",
    )
    by_name = {i.name: i for i in report.items}  # by position in the upload, not the name sent
    assert by_name["file-001.dcm"].status == "accepted"
    assert by_name["file-002.dcm"].status == "rejected"
    assert by_name["file-002.dcm"].reason
    assert by_name["file-003"].status == "rejected"
    assert Image.objects.count() == 1
    # Every stored file belongs to the one accepted image.
    prefix = Image.objects.get().storage_prefix
    assert all(str(p.relative_to(media_dir)).startswith(prefix) for p in _stored_files(media_dir))


def test_failed_row_write_removes_the_files(data_dir, site, radiologist, media_dir, monkeypatch):
    from cases.services import intake_store

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(intake_store, "_create_rows", explode)
    report = intake_sources(
        uploads=[_read(data_dir, "pydicom/CT_small.dcm")], site=site, user=radiologist, source="web"
    )
    assert report.items[0].status == "rejected"
    assert "storage error" in report.items[0].reason
    assert Image.objects.count() == 0 and Study.objects.count() == 0 and Case.objects.count() == 0
    assert _stored_files(media_dir) == []


def test_zip_of_a_study_groups_into_study_and_series(data_dir, site, radiologist):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ("pydicom/CT_small.dcm", "pydicom/MR_small.dcm", "pydicom/SC_rgb_jpeg_dcmtk.dcm"):
            zf.write(data_dir / "dicom" / name, f"study/{Path(name).name}")
    report = intake_sources(
        uploads=[("study.zip", buf.getvalue())], site=site, user=radiologist, source="web"
    )
    assert len(report.accepted) == 3
    assert Image.objects.count() == 3
    assert Series.objects.count() == len({i.series_instance_uid for i in report.accepted})
    assert Study.objects.count() == len({i.study_instance_uid for i in report.accepted})
    assert Case.objects.count() == Study.objects.count()


def test_plain_images_become_single_image_cases_with_the_chosen_task(data_dir, site, radiologist):
    brain = sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[:2]
    report = intake_sources(
        uploads=[(p.name, p.read_bytes()) for p in brain],
        site=site,
        user=radiologist,
        source="web",
        task=Task.BRAIN_MRI,
        patient_ref="MRN-0042",
    )
    assert len(report.accepted) == 2
    cases = Case.objects.all()
    assert cases.count() == 2
    assert {c.task for c in cases} == {Task.BRAIN_MRI}
    assert {c.study.modality for c in cases} == {"MR"}
    # The patient reference links both images to one pseudonymous patient; the reference itself is not stored.
    assert Patient.objects.count() == 1
    assert "MRN-0042" not in Patient.objects.get().pseudonym


def test_task_is_inferred_from_the_header_when_not_given(data_dir, site, radiologist):
    intake_sources(
        uploads=[_read(data_dir, "pydicom/CT_small.dcm")], site=site, user=radiologist, source="web"
    )
    case = Case.objects.get()
    assert case.task in Task.values  # CT_small has no body part: unassigned is the honest answer
    assert case.task_inferred is True


def _all_database_text() -> str:
    """Every text/JSON value in every table of the project's apps."""
    chunks: list[str] = []
    for model in apps.get_models():
        if model._meta.app_label not in {"cases", "inference"}:
            continue
        columns = [f.column for f in model._meta.concrete_fields]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(connection.ops.quote_name(c) for c in columns)} FROM {model._meta.db_table}"
            )
            chunks.extend(str(value) for row in cursor.fetchall() for value in row if value is not None)
    return "\n".join(chunks)


def test_no_patient_identifier_reaches_storage_or_database(data_dir, site, radiologist, media_dir):
    names = [
        "pydicom/CT_small.dcm",
        "pydicom/MR_small.dcm",
        "pydicom/JPGExtended.dcm",
        "pydicom/SC_rgb_dcmtk_+eb+cr.dcm",
    ]
    phi = []
    for name in names:
        ds = pydicom.dcmread(data_dir / "dicom" / name)
        for keyword in (
            "PatientName",
            "PatientID",
            "PatientBirthDate",
            "InstitutionName",
            "ReferringPhysicianName",
        ):
            value = str(ds.get(keyword, "") or "")
            # MR_small's institution "TOSHIBA" is also inside its (kept) Manufacturer "TOSHIBA_MEC".
            if len(value) >= 4 and value not in str(ds.get("Manufacturer", "")):
                phi.append(value)
    assert phi, "the sample files should carry identifiers to remove"
    report = intake_sources(
        uploads=[_read(data_dir, n) for n in names], site=site, user=radiologist, source="web"
    )
    assert len(report.accepted) == len(names)
    database = _all_database_text()
    stored = b"".join(p.read_bytes() for p in _stored_files(media_dir))
    for value in phi:
        assert value not in database, value
        assert value.encode() not in stored, value
    # UIDs are retained so results can go back to the right PACS study.
    for name in names:
        original = pydicom.dcmread(data_dir / "dicom" / name)
        assert Image.objects.filter(sop_instance_uid=original.SOPInstanceUID).exists()


def _variant(data_dir: Path, name: str, **header: str) -> tuple[str, bytes]:
    """A sample file with a new SOP Instance UID (so no duplicate check answers) and ``header`` set."""
    ds = pydicom.dcmread(data_dir / "dicom" / name)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for keyword, value in header.items():
        setattr(ds, keyword, value)
    buf = io.BytesIO()
    ds.save_as(buf)
    return f"{Path(name).stem}-{ds.SOPInstanceUID[-6:]}.dcm", buf.getvalue()


def test_same_patient_in_two_uploads_gets_the_same_pseudonym(data_dir, site, radiologist):
    # Two studies of one patient (MR_small's Patient ID), and one study of another patient:
    # distinct SOP Instance and Study UIDs, so the patient link is what decides.
    first = intake_sources(
        uploads=[_read(data_dir, "pydicom/MR_small.dcm")], site=site, user=radiologist, source="web"
    )
    same_patient = _variant(
        data_dir, "pydicom/MR_small.dcm", StudyInstanceUID=generate_uid(), SeriesInstanceUID=generate_uid()
    )
    other_patient = _variant(
        data_dir,
        "pydicom/MR_small.dcm",
        StudyInstanceUID=generate_uid(),
        SeriesInstanceUID=generate_uid(),
        PatientID="4MR2-other",
    )
    later = intake_sources(uploads=[same_patient, other_patient], site=site, user=radiologist, source="web")
    assert [i.status for i in [*first.items, *later.items]] == ["accepted"] * 3
    assert Study.objects.count() == 3 and Case.objects.count() == 3
    same_item, other_item = later.items
    linked = Study.objects.get(study_instance_uid=first.items[0].study_instance_uid).patient
    assert Study.objects.get(study_instance_uid=same_item.study_instance_uid).patient == linked
    assert Study.objects.get(study_instance_uid=other_item.study_instance_uid).patient != linked
    assert Patient.objects.count() == 2


def test_study_of_another_site_is_not_merged(
    data_dir, site, other_site, radiologist, other_radiologist, media_dir
):
    first = intake_sources(
        uploads=[_read(data_dir, "pydicom/MR_small.dcm")], site=site, user=radiologist, source="web"
    )
    files_before = _stored_files(media_dir)
    # Another instance of the same study (same Study UID, a new SOP Instance UID), sent by another site:
    # no duplicate check applies, so the site check is what refuses it.
    report = intake_sources(
        uploads=[_variant(data_dir, "pydicom/MR_small.dcm")],
        site=other_site,
        user=other_radiologist,
        source="web",
    )
    item = report.items[0]
    assert item.status == "rejected", item
    assert item.reason == REFUSED_HERE and "another site" not in item.reason
    assert Case.objects.filter(site=other_site).count() == 0
    assert Image.objects.count() == 1
    assert Study.objects.get().site == site and Study.objects.get().case.images.count() == 1
    assert first.items[0].status == "accepted"
    assert _stored_files(media_dir) == files_before


def test_limits_are_enforced_with_reasons(data_dir, site, radiologist, settings):
    settings.INTAKE_MAX_PIXELS = 100 * 100
    settings.INTAKE_MAX_ZIP_ENTRIES = 2
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(3):
            zf.writestr(f"f{i}.dcm", b"x")
    report = intake_sources(
        uploads=[_read(data_dir, "pydicom/CT_small.dcm"), ("many.zip", buf.getvalue())],
        site=site,
        user=radiologist,
        source="web",
    )
    reasons = {i.name: i.reason for i in report.rejected}
    assert any("megapixel" in r or "pixels" in r for r in reasons.values()), reasons
    assert any("entries" in r for r in reasons.values()), reasons
    assert Image.objects.count() == 0


def test_burned_in_annotation_flags_the_case(data_dir, site, radiologist):
    ds = pydicom.dcmread(data_dir / "dicom" / "pydicom/CT_small.dcm")
    ds.BurnedInAnnotation = "YES"
    buf = io.BytesIO()
    ds.save_as(buf)
    intake_sources(uploads=[("burned.dcm", buf.getvalue())], site=site, user=radiologist, source="web")
    case = Case.objects.get()
    assert case.flagged and "Burned-in" in case.flag_reason
