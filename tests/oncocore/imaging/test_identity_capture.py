"""prepare() reads the original identity before de-identification, and nothing else keeps it."""

from __future__ import annotations

import io
import json

import numpy as np
import pydicom
from pydicom.dataset import Dataset

from oncocore.imaging import DeidOptions, SourceFile, prepare, pseudonym_for
from oncocore.imaging.identity import IDENTITY_KEYWORDS, identity_of, reidentify
from oncocore.imaging.prepare import NO_PATIENT_ID_ISSUER

IDENTITY = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN-4711",
    "IssuerOfPatientID": "St Elsewhere",
    "PatientBirthDate": "19700102",
    "PatientSex": "F",
    "AccessionNumber": "ACC-99887",
    "StudyID": "S-42",
    "StudyDate": "20240131",
    "StudyTime": "101530.5",
    "ReferringPhysicianName": "Dr^Who",
    "StudyDescription": "CT chest for Jane",
}
PHI = ["Doe^Jane", "MRN-4711", "ACC-99887", "19700102", "Dr^Who", "CT chest for Jane"]


def _with_identity(ds: Dataset) -> None:
    for keyword, value in IDENTITY.items():
        setattr(ds, keyword, value)


def test_identity_is_captured_before_de_identification(make_dicom, limits, pseudonym_key):
    data = make_dicom(np.full((8, 8), 100, np.uint16), extra=_with_identity)
    p = prepare(SourceFile("a.dcm", data), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key)

    assert p.identity == IDENTITY
    assert set(p.identity) <= set(IDENTITY_KEYWORDS)
    # ...and only there: not in the stored file, the header, the warnings or the repr.
    stored = pydicom.dcmread(io.BytesIO(p.stored_bytes))
    for value in PHI:
        assert value.encode() not in p.stored_bytes
        assert value not in json.dumps(p.header)
        assert value not in " ".join(p.warnings)
        assert value not in repr(p)
    assert "identity" not in repr(p)
    assert stored.PatientID == p.patient_pseudonym


def test_a_file_de_identified_here_has_no_identity_to_keep(make_dicom, limits, pseudonym_key):
    """A saved try-out or a re-import carries our pseudonym, which must not pass for the hospital's patient."""
    data = make_dicom(np.full((8, 8), 100, np.uint16), extra=_with_identity)
    first = prepare(SourceFile("a.dcm", data), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key)
    again = prepare(
        SourceFile("a.dcm", first.stored_bytes),
        limits=limits,
        deid=DeidOptions(),
        pseudonym_key=pseudonym_key,
    )
    assert first.identity == IDENTITY
    assert again.identity == {} and again.patient_pseudonym == first.patient_pseudonym


def test_plain_images_have_no_identity(limits, pseudonym_key):
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, format="PNG")
    p = prepare(
        SourceFile("x.png", buf.getvalue()), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key
    )
    assert p.kind == "image" and p.identity == {}


def test_a_file_without_patient_id_gets_a_pseudonym_of_its_study(make_dicom, limits, pseudonym_key):
    def no_patient_id(ds: Dataset) -> None:
        del ds.PatientID
        ds.PatientName = "Nameless^Only"

    data = make_dicom(np.full((8, 8), 1, np.uint16), extra=no_patient_id)
    p = prepare(SourceFile("a.dcm", data), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key)
    stored = pydicom.dcmread(io.BytesIO(p.stored_bytes))
    expected = pseudonym_for(
        issuer=NO_PATIENT_ID_ISSUER, patient_id=str(stored.StudyInstanceUID), key=pseudonym_key
    )
    assert p.patient_pseudonym == expected
    assert stored.PatientID == expected and str(stored.PatientName) == expected
    assert b"Nameless" not in p.stored_bytes
    assert p.identity == {"PatientName": "Nameless^Only", "StudyDate": "20240131", "StudyTime": "101530.5"}

    # Another instance of the same study: the same pseudonym, so one patient.
    def same_study(ds: Dataset) -> None:
        no_patient_id(ds)
        ds.StudyInstanceUID = stored.StudyInstanceUID

    again = prepare(
        SourceFile("b.dcm", make_dicom(np.full((8, 8), 2, np.uint16), extra=same_study)),
        limits=limits,
        deid=DeidOptions(),
        pseudonym_key=pseudonym_key,
    )
    assert again.patient_pseudonym == expected


def test_reidentify_puts_the_identity_back():
    ds = Dataset()
    ds.PatientName, ds.PatientID = "P123", "P123"
    reidentify(ds, {**IDENTITY, "NotAnIdentityKeyword": "x"})
    assert identity_of(ds) == IDENTITY
    assert len(ds) == len(IDENTITY)  # the unknown key added nothing
