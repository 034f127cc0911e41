"""QIDO-RS keys: the attributes the platform matches and returns, their levels and where each value comes from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from cases.models import Image, Study
from dicomweb.dicom_json import da, tm

Level = Literal["study", "series", "instance"]
LEVELS: tuple[Level, ...] = ("study", "series", "instance")
Match = Literal["uid", "date", "string", "pn", "int", "modalities", "none", "return"]


@dataclass(frozen=True)
class Key:
    """An attribute the platform returns; ``field`` is its column from the level's model."""

    tag: str
    keyword: str
    vr: str
    level: Level
    match: Match
    field: str = ""
    value: Callable[[Any], Any] = lambda obj: None


def _k(tag: str, keyword: str, vr: str, level: Level, match: Match, fld: str = "", value: Any = None) -> Key:
    def from_field(obj: Any) -> Any:
        return _path(obj, fld) if fld else None

    return Key(tag, keyword, vr, level, match, fld, value or from_field)


def _path(obj: Any, dotted: str) -> Any:
    for name in dotted.split("__"):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _pseudonym(study: Study) -> str | None:
    return study.patient.pseudonym if study.patient else None


KEYS: list[Key] = [
    # Study level. The de-identification keeps no accession number, referring physician,
    # study ID or birth date: they are returned empty and a value matches nothing.
    _k("00080020", "StudyDate", "DA", "study", "date", "study_date", lambda s: da(s.study_date)),
    _k("00080030", "StudyTime", "TM", "study", "return", value=lambda s: tm(s.study_time)),
    _k("00080050", "AccessionNumber", "SH", "study", "none"),
    _k("00080056", "InstanceAvailability", "CS", "study", "return", value=lambda s: "ONLINE"),
    _k("00080061", "ModalitiesInStudy", "CS", "study", "modalities"),
    _k("00080090", "ReferringPhysicianName", "PN", "study", "none"),
    _k("00081030", "StudyDescription", "LO", "study", "string", "description"),
    _k("00100010", "PatientName", "PN", "study", "pn", "patient__pseudonym", _pseudonym),
    _k("00100020", "PatientID", "LO", "study", "string", "patient__pseudonym", _pseudonym),
    _k("00100030", "PatientBirthDate", "DA", "study", "none"),
    _k("00100040", "PatientSex", "CS", "study", "string", "patient__sex"),
    _k("00101010", "PatientAge", "AS", "study", "string", "patient_age"),
    _k("0020000D", "StudyInstanceUID", "UI", "study", "uid", "study_instance_uid"),
    _k("00200010", "StudyID", "SH", "study", "none"),
    _k("00201206", "NumberOfStudyRelatedSeries", "IS", "study", "return", value=lambda s: s.qido_series),
    _k(
        "00201208", "NumberOfStudyRelatedInstances", "IS", "study", "return", value=lambda s: s.qido_instances
    ),
    # Series level.
    _k("00080060", "Modality", "CS", "series", "string", "modality"),
    _k("0008103E", "SeriesDescription", "LO", "series", "string", "description"),
    _k("00180015", "BodyPartExamined", "CS", "series", "string", "body_part"),
    _k("0020000E", "SeriesInstanceUID", "UI", "series", "uid", "series_instance_uid"),
    _k("00200011", "SeriesNumber", "IS", "series", "int", "series_number"),
    _k(
        "00201209",
        "NumberOfSeriesRelatedInstances",
        "IS",
        "series",
        "return",
        value=lambda s: s.qido_instances,
    ),
    # Instance level.
    _k("00080016", "SOPClassUID", "UI", "instance", "uid", "sop_class_uid"),
    _k("00080018", "SOPInstanceUID", "UI", "instance", "uid", "sop_instance_uid"),
    _k("00200013", "InstanceNumber", "IS", "instance", "int", "instance_number"),
    _k("00280008", "NumberOfFrames", "IS", "instance", "int", "frames"),
    _k("00280010", "Rows", "US", "instance", "int", "rows"),
    _k("00280011", "Columns", "US", "instance", "int", "cols"),
    _k("00280100", "BitsAllocated", "US", "instance", "return", value=lambda i: _header_value(i, "00280100")),
]
KEY_BY_TAG = {key.tag: key for key in KEYS}
RETRIEVE_URL = "00081190"


def _header_value(image: Image, tag: str) -> Any:
    for name, value in (image.header or {}).items():
        if name[1:5] + name[6:10] == tag:
            return value
    return None
