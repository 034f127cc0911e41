"""The intake keeps a study's identity encrypted, only for a site with a destination, and nowhere in clear."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, models
from django.urls import reverse

from cases.models import Study
from cases.services.intake import intake_sources
from results.identity import IdentityUnavailable, decrypt_json
from results.models import StudyIdentity
from results.services.identity import DIFFERENT_PATIENT_WARNING, study_identity_forget, study_identity_get
from tests.results.conftest import IDENTITY, PHI

pytestmark = pytest.mark.django_db


def _ingest(site, user, *blobs: bytes, source: str = "web"):
    return intake_sources(
        uploads=[(f"{i}.dcm", blob) for i, blob in enumerate(blobs)], site=site, user=user, source=source
    )


def _text_values_of_every_row() -> list[str]:
    """Every text and JSON value of every row of every model: where PHI in clear would show."""
    values: list[str] = []
    for model in apps.get_models():
        fields = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(f, (models.CharField, models.TextField, models.JSONField))
        ]
        if fields:
            values += [str(v) for row in model._default_manager.values_list(*fields) for v in row]
    return values


def test_web_upload_keeps_the_identity_encrypted(
    client, radiologist, site, make_destination, identified_dicom
):
    make_destination(site=site)
    client.force_login(radiologist)
    response = client.post(
        reverse("cases:upload"),
        {
            "task": "",
            "files": [SimpleUploadedFile("a.dcm", identified_dicom(), content_type="application/dicom")],
        },
    )
    assert response.status_code == 302, response.content
    study = Study.objects.get()
    row = StudyIdentity.objects.get(study=study)
    assert not any(value in row.encrypted for value in PHI)
    assert decrypt_json(row.encrypted) == IDENTITY
    assert study_identity_get(study=study) == IDENTITY


def test_api_upload_keeps_it_for_an_every_site_destination(
    radiologist, token_client, site, make_destination, identified_dicom
):
    make_destination(site=None)
    client = token_client(radiologist, "read,upload")
    upload = SimpleUploadedFile("a.dcm", identified_dicom(), content_type="application/octet-stream")
    response = client.post("/api/v1/studies/", {"files": [upload]})
    assert response.status_code == 201, response.content
    assert study_identity_get(study=Study.objects.get()) == IDENTITY


@pytest.mark.parametrize("why", ["no destination", "inactive", "another site's", "no key"])
def test_nothing_is_kept_without_an_active_destination_and_a_key(
    why, site, other_site, radiologist, make_destination, identified_dicom, settings
):
    if why == "inactive":
        make_destination(site=site, is_active=False)
    elif why == "another site's":
        make_destination(site=other_site)
    elif why == "no key":
        make_destination(site=site)
        settings.REID_KEY = ""
    report = _ingest(site, radiologist, identified_dicom())
    assert len(report.accepted) == 1
    assert not StudyIdentity.objects.exists()
    assert study_identity_get(study=Study.objects.get()) is None


def test_the_first_instance_wins_and_another_patient_is_a_warning(
    site, radiologist, make_destination, identified_dicom, new_study_uid
):
    make_destination(site=site)
    uid = new_study_uid()
    first = _ingest(site, radiologist, identified_dicom(study_uid=uid))
    same = _ingest(site, radiologist, identified_dicom(study_uid=uid))
    other = _ingest(
        site,
        radiologist,
        identified_dicom(study_uid=uid, PatientID="MRN-OTHER-1", PatientName="Other^Person"),
    )
    assert [len(r.accepted) for r in (first, same, other)] == [1, 1, 1]
    assert DIFFERENT_PATIENT_WARNING not in same.accepted[0].warnings
    assert DIFFERENT_PATIENT_WARNING in other.accepted[0].warnings
    assert not any("MRN" in w or "Other" in w for w in other.accepted[0].warnings)  # no PHI in the warning
    assert StudyIdentity.objects.count() == 1
    assert study_identity_get(study=Study.objects.get()) == IDENTITY


def test_a_study_ingested_before_its_destination_keeps_nothing_until_a_new_instance(
    site, radiologist, make_destination, identified_dicom, new_study_uid
):
    uid = new_study_uid()
    _ingest(site, radiologist, identified_dicom(study_uid=uid))
    make_destination(site=site)
    assert not StudyIdentity.objects.exists()  # nothing can be recovered for what came before
    _ingest(site, radiologist, identified_dicom(study_uid=uid))
    assert study_identity_get(study=Study.objects.get()) == IDENTITY


def test_a_wrong_key_cannot_read_it(site, radiologist, make_destination, identified_dicom, settings):
    make_destination(site=site)
    _ingest(site, radiologist, identified_dicom())
    study = Study.objects.get()
    settings.REID_KEY = "a2V5LXRoYXQtaXMtbm90LXRoZS1vbmUtdXNlZC0wMDA="
    with pytest.raises(IdentityUnavailable):
        study_identity_get(study=study)
    settings.REID_KEY = ""
    with pytest.raises(IdentityUnavailable):
        study_identity_get(study=study)


def test_forget_deletes_it_and_is_audited(site, radiologist, make_destination, identified_dicom):
    from cases.models import AuditEvent

    make_destination(site=site)
    _ingest(site, radiologist, identified_dicom())
    study = Study.objects.get()
    assert study_identity_forget(study=study) is True
    assert study_identity_forget(study=study) is False
    assert study_identity_get(study=study) is None
    assert (
        AuditEvent.objects.filter(action="results.identity_forgotten", object_id=str(study.pk)).count() == 1
    )


@pytest.mark.django_db(transaction=True)
def test_no_phi_in_clear_in_the_database_its_file_the_storage_or_the_logs(
    site, radiologist, make_destination, identified_dicom, media_dir, caplog
):
    caplog.set_level(logging.DEBUG)
    make_destination(site=site)
    report = _ingest(
        site, radiologist, identified_dicom(), identified_dicom(PatientID="MRN-OTHER-2"), b"not dicom"
    )
    assert len(report.accepted) == 2 and StudyIdentity.objects.count() == 2
    assert study_identity_get(study=Study.objects.first()) is not None

    values = _text_values_of_every_row()
    assert values and not [v for v in values if any(p in v for p in PHI)]
    stored = [p.read_bytes() for p in media_dir.rglob("*") if p.is_file()]
    assert stored and not [b for b in stored if any(p.encode() in b for p in PHI)]
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert not [p for p in PHI if p in logged]
    if connection.vendor == "sqlite":  # the database file itself (committed: transaction=True)
        name = Path(connection.settings_dict["NAME"])
        # WAL mode: committed pages sit in the -wal file until a checkpoint.
        blob = b"".join(p.read_bytes() for p in (name, name.with_name(f"{name.name}-wal")) if p.exists())
        pseudonym = Study.objects.first().patient.pseudonym
        assert pseudonym.encode() in blob  # the rows are in the file, only in clear what may be
        assert not [p for p in PHI if p.encode() in blob]
