"""De-identification: PS3.15 Table E.1-1 as data, pseudonyms, and PHI really gone."""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence

from oncocore.imaging import DeidOptions, Prepared, Rejected, SourceFile, deidentify, prepare, pseudonym_for
from oncocore.imaging.deid_table import action_plan, load_table

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # pydicom on malformed samples


# ---------------------------------------------------------------- the table itself


def test_table_is_complete_data():
    rows = load_table()
    assert len(rows) > 450  # Table E.1-1 has ~460 rows in the edition transcribed
    by_keyword = {r.keyword: r for r in rows}
    assert by_keyword["PatientName"].basic == "Z"
    assert by_keyword["PatientBirthDate"].basic == "Z"
    assert by_keyword["InstitutionName"].basic == "X/Z/D"
    assert by_keyword["StudyInstanceUID"].basic == "U"
    assert dict(by_keyword["StudyInstanceUID"].options)["retain_uids"] == "K"
    assert dict(by_keyword["StudyDate"].options)["retain_long_full_dates"] == "K"
    assert dict(by_keyword["PatientSex"].options)["retain_patient_characteristics"] == "K"
    for row in rows:  # every action resolves for every option set we can be configured with
        for options in (DeidOptions(), DeidOptions(False, False, False, False)):
            assert row.action(options.option_columns()) in {"X", "Z", "D", "K", "U"}


def test_action_plan_resolution():
    plan = action_plan(DeidOptions().option_columns())
    assert plan.action_for(0x00100010) == "Z"  # Patient's Name
    assert plan.action_for(0x00080080) == "D"  # Institution Name X/Z/D -> dummy
    assert plan.action_for(0x00080022) == "K"  # Acquisition Date under Retain Full Dates
    assert plan.action_for(0x0020000D) == "K"  # Study Instance UID under Retain UIDs
    assert plan.action_for(0x00101010) == "K"  # Patient's Age under Retain Patient Characteristics
    assert plan.action_for(0x00102110) == "X"  # Allergies: C under the option, cleaning = remove
    assert plan.action_for(0x50020010) == "X"  # curve data (50xx,xxxx)
    assert plan.action_for(0x60004000) == "X"  # overlay comments
    assert plan.action_for(0x00091001) == "X"  # private
    assert plan.action_for(0x00280010) is None  # Rows: not in the table, kept
    basic = action_plan(())
    assert basic.action_for(0x0020000D) == "U" and basic.action_for(0x00080020) == "Z"


# ---------------------------------------------------------------- pseudonyms


def test_pseudonym_format_and_keying():
    a = pseudonym_for(issuer="HOSP", patient_id="12345", key=b"k1")
    assert re.fullmatch(r"P[A-Z2-7]{12}", a)
    assert a == pseudonym_for(issuer="HOSP", patient_id="12345", key=b"k1")
    assert a != pseudonym_for(issuer="HOSP", patient_id="12345", key=b"k2")
    assert a != pseudonym_for(issuer="OTHER", patient_id="12345", key=b"k1")
    assert a != pseudonym_for(issuer="HOSP1", patient_id="2345", key=b"k1")  # separator matters
    with pytest.raises(ValueError):
        pseudonym_for(issuer="", patient_id="1", key=b"")


# ---------------------------------------------------------------- synthetic PHI everywhere

PHI = [
    "Doe^John",
    "MRN-998877",
    "Springfield General",
    "742 Evergreen Terrace",
    "555-0199",
    "Dr^Referrer",
    "Dr^Performer",
    "Dr^Reader",
    "Op^Erator",
    "Dr^Requester",
    "Nested^Operator",
    "Secret comment about John",
    "Series about John",
    "Study about John",
    "SN-12345-X",
    "SCANNER-ROOM-7",
    "ACC-445566",
    "Private^Name",
    "Alias^Johnny",
    "Evaluator^Unlisted",
    "19650412",
    "SPRINGFIELD_PACS",
]


def _phi_dataset() -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.SourceApplicationEntityTitle = "SPRINGFIELD_PACS"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.3"
    ds.PatientName, ds.PatientID, ds.IssuerOfPatientID = "Doe^John", "MRN-998877", "Springfield General"
    ds.OtherPatientIDs = "MRN-998877"
    ds.OtherPatientNames = "Alias^Johnny"
    other = Dataset()
    other.PatientID, other.IssuerOfPatientID = "MRN-998877", "Springfield General"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.PatientBirthDate, ds.PatientBirthTime = "19650412", "0830"
    ds.PatientAddress, ds.PatientTelephoneNumbers = "742 Evergreen Terrace", "555-0199"
    ds.PatientSex, ds.PatientAge, ds.PatientWeight = "M", "058Y", 80
    ds.InstitutionName, ds.InstitutionAddress = "Springfield General", "742 Evergreen Terrace"
    ds.InstitutionalDepartmentName = "Springfield General Radiology"
    ds.ReferringPhysicianName, ds.PerformingPhysicianName = "Dr^Referrer", "Dr^Performer"
    ds.NameOfPhysiciansReadingStudy, ds.OperatorsName = "Dr^Reader", "Op^Erator"
    ds.RequestingPhysician, ds.PhysiciansOfRecord = "Dr^Requester", "Dr^Reader"
    ds.StudyDescription, ds.SeriesDescription = "Study about John", "Series about John"
    ds.ImageComments, ds.StudyComments = "Secret comment about John", "Secret comment about John"
    ds.AdditionalPatientHistory = "Secret comment about John"
    ds.DeviceSerialNumber, ds.StationName = "SN-12345-X", "SCANNER-ROOM-7"
    ds.AccessionNumber, ds.StudyID = "ACC-445566", "ACC-445566"
    ds.StudyDate, ds.StudyTime, ds.Modality, ds.BodyPartExamined = "20240131", "101530", "CT", "CHEST"
    # A kept (unlisted) sequence whose item hides identifying attributes.
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "CTCHEST", "LOCAL", "CT chest"
    code.OperatorsName = "Nested^Operator"
    code.StationName = "SCANNER-ROOM-7"
    ds.ProcedureCodeSequence = Sequence([code])
    # A person name the table does not list (safety net), and private data.
    ds.add_new(0x00142006, "PN", "Evaluator^Unlisted")  # Evaluator Name
    block = ds.private_block(0x0009, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", "Private^Name")
    ds.add_new(0x50000010, "US", 1)  # curve data
    ds.add_new(0x60004000, "LT", "Secret comment about John")  # overlay comments
    return ds


def _assert_no_phi(blob: bytes, ds: Dataset, values) -> None:
    text_values = [str(e.value) for e in ds.iterall() if e.VR not in ("SQ", "OB", "OW", "UN", "UI")]
    for value in values:
        assert value.encode() not in blob, f"{value!r} left in the bytes"
        assert not any(value in t for t in text_values), f"{value!r} left in an element"


def test_synthetic_phi_all_gone(pseudonym_key):
    ds = _phi_dataset()
    pseudonym = pseudonym_for(issuer="Springfield General", patient_id="MRN-998877", key=pseudonym_key)
    warnings = deidentify(ds, pseudonym=pseudonym, options=DeidOptions())
    assert "SourceApplicationEntityTitle" not in ds.file_meta
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=False, little_endian=True)
    out = pydicom.dcmread(io.BytesIO(buf.getvalue()), force=True)
    _assert_no_phi(buf.getvalue(), out, PHI)
    assert out.PatientName == pseudonym and out.PatientID == pseudonym
    assert out.PatientIdentityRemoved == "YES"
    assert out.PatientBirthDate == "" and "OtherPatientIDsSequence" not in out
    assert "InstitutionAddress" not in out and out.InstitutionName == "ANONYMIZED"
    assert not any(elem.tag.is_private for elem in out.iterall())
    assert not any(elem.tag.group in (0x5000, 0x6000) for elem in out.iterall())
    # Retained by the options in force.
    assert out.StudyInstanceUID == "1.2.826.0.1.3680043.8.498.2"
    assert out.StudyDate == "20240131" and out.StudyTime == "101530"
    assert (out.PatientSex, out.PatientAge, float(out.PatientWeight)) == ("M", "058Y", 80.0)
    assert out.BodyPartExamined == "CHEST" and out.Modality == "CT"
    assert out.ProcedureCodeSequence[0].CodeMeaning == "CT chest"  # kept, but cleaned inside
    codes = [(c.CodeValue, c.CodingSchemeDesignator) for c in out.DeidentificationMethodCodeSequence]
    assert codes == [("113100", "DCM"), ("113110", "DCM"), ("113106", "DCM"), ("113108", "DCM")]
    assert out.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert "PS3.15" in str(out.DeidentificationMethod)
    assert warnings == []


def test_un_encoded_and_unknown_attributes():
    """Known attributes written as UN are still recognised; unknown public ones are removed."""
    from pydicom.datadict import dictionary_has_tag

    assert not dictionary_has_tag(0x0018FFF1)
    ds = Dataset()
    ds.SOPInstanceUID = "1.2.3.4"
    ds.add_new(0x00142006, "UN", b"Evaluator^Unlisted")  # Evaluator Name (PN), written as UN
    ds.add_new(0x0018FFF1, "UN", b"Doe^John")  # not in the data dictionary
    buf = io.BytesIO()
    ds.save_as(buf, implicit_vr=False, little_endian=True)
    raw = pydicom.dcmread(io.BytesIO(buf.getvalue()), force=True)
    deidentify(raw, pseudonym="P1", options=DeidOptions())
    out = io.BytesIO()
    raw.save_as(out, implicit_vr=False, little_endian=True)
    assert b"Evaluator" not in out.getvalue() and b"Doe^John" not in out.getvalue()
    assert 0x0018FFF1 not in raw


def test_options_off_remove_more():
    ds = _phi_dataset()
    deidentify(ds, pseudonym="PXXXX", options=DeidOptions(False, False, False, True))
    assert ds.StudyInstanceUID != "1.2.826.0.1.3680043.8.498.2"  # replaced...
    again = _phi_dataset()
    deidentify(again, pseudonym="PXXXX", options=DeidOptions(False, False, False, True))
    assert again.StudyInstanceUID == ds.StudyInstanceUID  # ...deterministically, so links survive
    assert ds.StudyDate == "" and ds.PatientSex == "" and "PatientAge" not in ds
    codes = [c.CodeValue for c in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100"] and ds.LongitudinalTemporalInformationModified == "REMOVED"


def test_burned_in_annotation_warning():
    ds = _phi_dataset()
    ds.BurnedInAnnotation = "YES"
    assert deidentify(ds, pseudonym="P1", options=DeidOptions()) == [
        "burned-in annotation: YES (text in the pixels may identify the patient)"
    ]


def test_prepare_synthetic_phi_image(make_dicom, limits, pseudonym_key):
    def add_phi(ds: Dataset) -> None:
        for elem in _phi_dataset():
            if elem.keyword not in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
                ds.add(elem)

    data = make_dicom(np.full((8, 8), 1024, np.uint16), extra=add_phi)
    p = prepare(SourceFile("phi.dcm", data), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key)
    out = pydicom.dcmread(io.BytesIO(p.stored_bytes))
    _assert_no_phi(p.stored_bytes, out, PHI)
    header_text = json.dumps(p.header)
    assert not any(v in header_text for v in PHI)
    expected = pseudonym_for(issuer="Springfield General", patient_id="MRN-998877", key=pseudonym_key)
    assert p.patient_pseudonym == expected
    assert p.study_description == "" and p.body_part == "CHEST"


def test_a_file_de_identified_here_keeps_its_pseudonym(make_dicom, limits, pseudonym_key):
    """A saved try-out or a re-imported export links to the same patient, not to a hash of the pseudonym."""
    data = make_dicom(np.full((8, 8), 1024, np.uint16), extra=lambda ds: setattr(ds, "PatientID", "MRN-1"))
    first = prepare(SourceFile("a.dcm", data), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key)
    again = prepare(
        SourceFile("a.dcm", first.stored_bytes),
        limits=limits,
        deid=DeidOptions(),
        pseudonym_key=pseudonym_key,
    )
    assert first.patient_pseudonym == pseudonym_for(issuer="", patient_id="MRN-1", key=pseudonym_key)
    assert again.patient_pseudonym == first.patient_pseudonym

    # The marker alone is not enough: an ID that is not in the pseudonym format is hashed.
    def claims_deid(ds: Dataset) -> None:
        ds.PatientID = "MRN-2"
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "PS3.15 E.1-1 Basic Application Confidentiality Profile"

    forged = prepare(
        SourceFile("b.dcm", make_dicom(np.full((8, 8), 1, np.uint16), extra=claims_deid)),
        limits=limits,
        deid=DeidOptions(),
        pseudonym_key=pseudonym_key,
    )
    assert forged.patient_pseudonym == pseudonym_for(issuer="", patient_id="MRN-2", key=pseudonym_key)


# ---------------------------------------------------------------- every sample file with a patient name


def _header_values(header) -> list[str]:
    if isinstance(header, dict):
        return [v for value in header.values() for v in _header_values(value)]
    if isinstance(header, list):
        return [v for value in header for v in _header_values(value)]
    return [str(header)]


def test_sample_phi_removed(phi_row, prepare_sample, data_path):
    row = phi_row or {"file": data_path("dicom/MANIFEST.tsv").name}
    original = pydicom.dcmread(data_path("dicom") / row["file"], force=True)
    outcome = prepare_sample(row["file"])
    if isinstance(outcome, Prepared):
        blob, header = outcome.stored_bytes, outcome.header
    else:  # not an image, but de-identification must still hold for the dataset itself
        assert isinstance(outcome, Rejected)
        deidentify(original, pseudonym="PTEST", options=DeidOptions())
        buf = io.BytesIO()
        original.save_as(buf)
        blob, header = buf.getvalue(), {}
        original = pydicom.dcmread(data_path("dicom") / row["file"], force=True)
    stored = pydicom.dcmread(io.BytesIO(blob), force=True)
    # Compare outside the pixel data: a short ID can occur by chance in binary pixels.
    for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if keyword in stored:
            blob = blob.replace(stored[keyword].value, b"")
    phi = [v for v in (row["patient_name_value"], row["patient_id"]) if v.strip("^ ")]
    text_values = [str(e.value) for e in stored.iterall() if e.VR not in ("SQ", "OB", "OW", "UN", "UI")]
    for value in phi:
        assert not any(value in t for t in text_values), f"{value!r} left in an element"
        assert not any(value in t for t in _header_values(header)), f"{value!r} left in the header"
        if len(value) >= 5 and not value.isdigit():  # distinctive enough to search raw bytes
            assert value.encode() not in blob, f"{value!r} left in the stored bytes"
    assert stored.PatientIdentityRemoved == "YES"
    assert not any(elem.tag.is_private for elem in stored.iterall())
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert stored.get(keyword) == original.get(keyword)


def test_same_patient_same_pseudonym(prepare_sample, manifest, limits, data_path, pseudonym_key):
    files_by_patient: dict[str, list[str]] = defaultdict(list)
    for row in manifest:
        if row["patient_id"] and row["patient_name"] == "yes":
            files_by_patient[row["patient_id"]].append(row["file"])
    pseudonyms: dict[str, set[str | None]] = {}
    for patient_id, files in files_by_patient.items():
        prepared = [o for o in map(prepare_sample, files) if isinstance(o, Prepared)]
        if len(prepared) >= 2:
            pseudonyms[patient_id] = {p.patient_pseudonym for p in prepared}
    assert len(pseudonyms) >= 5, "expected several patients with more than one image"
    for patient_id, names in pseudonyms.items():
        assert len(names) == 1 and None not in names, (patient_id, names)
    assert len({next(iter(n)) for n in pseudonyms.values()}) == len(pseudonyms)  # patients differ

    source = SourceFile("MR_small.dcm", data_path("dicom/pydicom/MR_small.dcm").read_bytes())
    same = prepare(source, limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key)
    other = prepare(source, limits=limits, deid=DeidOptions(), pseudonym_key=b"another-key")
    assert same.patient_pseudonym != other.patient_pseudonym
    assert same.patient_pseudonym == prepare_sample("pydicom/MR_small.dcm").patient_pseudonym


@pytest.mark.parametrize("vr", ["LO", "SH", "LT", "UT", "PN", "CS", "DS"])
def test_unknown_public_attribute_removed_whatever_its_vr(make_dicom, limits, pseudonym_key, vr):
    """An even-group attribute missing from the dictionary, e.g. (0010,0099) LO, is gone from file and header."""
    from pydicom.datadict import dictionary_has_tag

    assert not dictionary_has_tag(0x00100099)
    value = "1.5" if vr == "DS" else "CANARYUNKNOWN"

    def extra(ds):
        ds.add_new(0x00100099, vr, value)
        ds.add_new(0x00180099, vr, value)

    data = make_dicom(np.zeros((8, 8), np.uint16), extra=extra)
    assert value.encode() in data
    p = prepare(SourceFile("x.dcm", data), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key)
    assert isinstance(p, Prepared)
    stored = pydicom.dcmread(io.BytesIO(p.stored_bytes))
    assert 0x00100099 not in stored and 0x00180099 not in stored
    assert value.encode() not in p.stored_bytes
    assert value not in json.dumps(p.header)
    assert stored.Rows == 8  # dictionary attributes the table does not list are kept


@pytest.mark.parametrize("tag", [0x00080202, 0x00180061, 0x00189445])
def test_nameless_retired_attribute_removed(make_dicom, limits, pseudonym_key, tag):
    """Numbers the dictionary lists with no name ("Retired-blank") are as unknown as unlisted ones.

    Found by the property test: a canary in (0018,0061) survived, since only a missing entry counted.
    """
    from pydicom.datadict import dictionary_has_tag, keyword_for_tag

    assert dictionary_has_tag(tag) and keyword_for_tag(tag) == ""

    def extra(ds):
        ds.add_new(tag, "LO", "CANARYBLANK")

    data = make_dicom(np.zeros((8, 8), np.uint16), extra=extra)
    p = prepare(SourceFile("x.dcm", data), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key)
    assert isinstance(p, Prepared)
    assert b"CANARYBLANK" not in p.stored_bytes and tag not in pydicom.dcmread(io.BytesIO(p.stored_bytes))
