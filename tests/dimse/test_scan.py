"""The quick Study Instance UID walk agrees with pydicom on every sample file, or leaves it to pydicom."""

from __future__ import annotations

import warnings
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dimse.records import study_uid_of
from dimse.scan import scan_study_uid


def _pydicom_study_uid(raw: bytes) -> str | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(BytesIO(raw), stop_before_pixels=True, specific_tags=["StudyInstanceUID"])
        except Exception:
            return None
    return str(ds.get("StudyInstanceUID", "") or "").strip()


def _encoded(ds: pydicom.Dataset, syntax: UID) -> bytes:
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _dataset() -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = "1.2.3.4.5"
    ds.StudyInstanceUID = "1.2.3.4"
    ds.PatientName = "Test^Walk"
    return ds


def test_the_walk_agrees_with_pydicom_on_every_sample_file(data_dir: Path) -> None:
    found = 0
    for path in sorted((data_dir / "dicom").rglob("*")):
        if not path.is_file() or path.suffix in {".md", ".tsv", ".txt"}:
            continue
        raw = path.read_bytes()
        walked = scan_study_uid(raw)
        if walked is not None:
            found += 1
            assert walked == _pydicom_study_uid(raw), path
    assert found > 50  # most sample files are little endian with no sequence before the UID


def test_both_little_endian_syntaxes_are_walked() -> None:
    for syntax in (ExplicitVRLittleEndian, ImplicitVRLittleEndian):
        assert scan_study_uid(_encoded(_dataset(), syntax)) == "1.2.3.4"


def test_what_the_walk_cannot_tell_goes_to_pydicom() -> None:
    big_endian = _encoded(_dataset(), ExplicitVRBigEndian)
    assert scan_study_uid(big_endian) is None
    assert study_uid_of(big_endian) == "1.2.3.4"
    with_sequence = _dataset()
    with_sequence.ReferencedImageSequence = [pydicom.Dataset()]  # (0008,1140): before the UID
    raw = _encoded(with_sequence, ExplicitVRLittleEndian)
    if scan_study_uid(raw) is None:  # undefined length: not walked
        assert study_uid_of(raw) == "1.2.3.4"
    else:
        assert scan_study_uid(raw) == "1.2.3.4"  # a defined-length sequence is stepped over
    no_uid = _dataset()
    del no_uid.StudyInstanceUID
    assert scan_study_uid(_encoded(no_uid, ExplicitVRLittleEndian)) is None
    assert study_uid_of(_encoded(no_uid, ExplicitVRLittleEndian)) is None
    assert scan_study_uid(b"not dicom") is None
    truncated = _encoded(_dataset(), ExplicitVRLittleEndian)[:-6]
    assert scan_study_uid(truncated) is None
