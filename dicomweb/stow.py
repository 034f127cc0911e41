"""STOW-RS (PS3.18 §10.5): each part of a multipart/related body through the one intake service,
answered with the Store Instances Response Module (Annex I).

Every part is one instance: it must be ``application/dicom`` and a DICOM
dataset (a Part 10 file or a bare dataset); anything else fails without
reaching intake. On a study-specific POST an instance of another study fails
too. The rest go through ``intake_sources`` in ONE call, which de-identifies,
stores files before rows and reports each file; its report is mapped back to
the parts in order.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pydicom
from pydicom.tag import Tag

from cases.models import IntakeBatch, Site, User
from cases.services.audit import AuditContext
from cases.services.intake import IntakeReport, ItemResult, intake_sources
from dicomweb.dicom_json import attribute, with_reason
from dicomweb.multipart import MultipartError, Part
from oncocore.imaging import SourceFile, SourceRejected
from oncocore.imaging.dicom_io import has_dicom_preamble, looks_like_bare_dataset

logger = logging.getLogger(__name__)

DICOM = "application/dicom"

# Failure Reason (0008,1197) values: PS3.18 Table I.2-2, and one of our own (documented in
# docs/dicomweb.md) in the Cxxx "cannot understand" range, as dcm4chee-arc uses it.
OUT_OF_RESOURCES = 0xA700
DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
CANNOT_UNDERSTAND = 0xC000
TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122
PROCESSING_FAILURE = 0x0110
SOP_CLASS_NOT_SUPPORTED = 0x0122
STUDY_INSTANCE_UID_MISMATCH = 0xC409

# The intake's reasons (one line each, see oncocore.imaging) by how they begin → the code.
_REASON_CODES: list[tuple[tuple[str, ...], int]] = [
    (("no pixel data", "DICOMDIR"), SOP_CLASS_NOT_SUPPORTED),
    (
        (
            "unsupported transfer syntax",
            "cannot tell the file's transfer syntax",
            "pixel data is compressed but",
        ),
        TRANSFER_SYNTAX_NOT_SUPPORTED,
    ),
    (("storage error", "file too large", "image too large", "deflated dataset "), OUT_OF_RESOURCES),
    (
        (
            "missing required",
            "invalid ",
            "image has no pixels",
            "unsupported bit depth",
            "unsupported Samples per Pixel",
            "truncated pixel data",
            "pixel data holds",
            # A codestream that does not match Rows/Columns/Samples (oncocore.imaging.frame_check).
            "frame ",
            "cannot split the encapsulated pixel data",
            "pixel data is not encapsulated",
        ),
        DATASET_DOES_NOT_MATCH_SOP_CLASS,
    ),
    (("the upload was refused",), PROCESSING_FAILURE),  # cases.services.intake_store.REFUSED_HERE
]


def failure_code(reason: str) -> int:
    """The Failure Reason for an intake reason; limits ("over the … limit") are out of resources."""
    for prefixes, code in _REASON_CODES:
        if reason.startswith(prefixes):
            return code
    if " limit" in reason and "over the" in reason:
        return OUT_OF_RESOURCES
    return CANNOT_UNDERSTAND


@dataclass
class PartInfo:
    """What a part says about itself (read before intake, for the response)."""

    name: str
    sop_class_uid: str = ""
    sop_instance_uid: str = ""
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    code: int | None = None  # failed before intake, with this code


_UID_TAGS = [Tag(0x0008, 0x0016), Tag(0x0008, 0x0018), Tag(0x0020, 0x000D), Tag(0x0020, 0x000E)]


def _read_uids(data: bytes, info: PartInfo) -> None:
    try:
        ds = pydicom.dcmread(
            io.BytesIO(data), stop_before_pixels=True, force=True, specific_tags=list(_UID_TAGS)
        )
        info.sop_class_uid = str(ds.get("SOPClassUID", "") or "").strip()
        info.sop_instance_uid = str(ds.get("SOPInstanceUID", "") or "").strip()
        info.study_instance_uid = str(ds.get("StudyInstanceUID", "") or "").strip()
        info.series_instance_uid = str(ds.get("SeriesInstanceUID", "") or "").strip()
    except Exception:  # a corrupt header: intake says why; the response names no UIDs
        logger.debug("could not read the UIDs of %s", info.name, exc_info=True)


@dataclass
class StowSources:
    """The parts as intake sources, recording each part's PartInfo as it is consumed."""

    parts: Iterator[Part]
    default_type: str
    study_uid: str | None
    infos: list[PartInfo] = field(default_factory=list)

    def __iter__(self) -> Iterator[SourceFile | SourceRejected]:
        try:
            for part in self.parts:
                yield self._source(part)
        except MultipartError as exc:
            # Parts before the break stand (each was stored or refused on its own).
            info = PartInfo(name=f"part {len(self.infos) + 1}", code=CANNOT_UNDERSTAND)
            self.infos.append(info)
            yield SourceRejected(info.name, f"malformed multipart body: {exc}")

    def _source(self, part: Part) -> SourceFile | SourceRejected:
        info = PartInfo(name=f"part {len(self.infos) + 1}")
        self.infos.append(info)
        media_type = part.content_type(self.default_type)
        if media_type != DICOM:
            info.code = CANNOT_UNDERSTAND
            return SourceRejected(info.name, f"the part is {media_type}; only {DICOM} instances are stored")
        if not (has_dicom_preamble(part.data) or looks_like_bare_dataset(part.data)):
            info.code = CANNOT_UNDERSTAND
            return SourceRejected(info.name, "not a DICOM instance (neither a Part 10 file nor a dataset)")
        _read_uids(part.data, info)
        if self.study_uid is not None and info.study_instance_uid != self.study_uid:
            info.code = STUDY_INSTANCE_UID_MISMATCH
            return SourceRejected(
                info.name,
                f"the instance's Study Instance UID ({info.study_instance_uid or 'none'}) is not the "
                f"study of the request ({self.study_uid})",
            )
        return SourceFile(info.name, part.data)


@dataclass
class StowResult:
    status: int
    body: dict[str, Any]
    report: IntakeReport


def stow(
    *,
    parts: Iterator[Part],
    default_type: str,
    study_uid: str | None,
    site: Site,
    user: User,
    audit: AuditContext,
    study_url: Callable[[str], str],
    instance_url: Callable[[str, str, str], str],
) -> StowResult:
    """Store the parts (one intake batch) and build the Store Instances Response."""
    sources = StowSources(parts=parts, default_type=default_type, study_uid=study_uid)
    report = intake_sources(
        uploads=sources, site=site, user=user, source=IntakeBatch.Source.DICOMWEB, audit=audit
    )
    if len(report.items) != len(sources.infos):  # intake reports one item per source given
        raise RuntimeError("the intake report does not match the parts sent")
    referenced: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    studies: set[str] = set()
    for info, item in zip(sources.infos, report.items, strict=True):
        if item.status == "rejected":
            failed.append(_failed_item(info, item))
            continue
        study = item.study_instance_uid or info.study_instance_uid
        series = item.series_instance_uid or info.series_instance_uid
        sop = item.sop_instance_uid or info.sop_instance_uid
        studies.add(study)
        reason = "already stored; nothing added" if item.status == "duplicate" else ""
        referenced.append(
            with_reason(
                {
                    "00081150": attribute("UI", info.sop_class_uid),
                    "00081155": attribute("UI", sop),
                    "00081190": attribute("UR", instance_url(study, series, sop)),
                },
                reason,
            )
        )
    top_study = study_uid or (next(iter(studies)) if len(studies) == 1 else None)
    body: dict[str, Any] = {"00081190": attribute("UR", study_url(top_study) if top_study else None)}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    if referenced:
        body["00081199"] = {"vr": "SQ", "Value": referenced}
    status = 200 if not failed else 409 if not referenced else 202
    return StowResult(status=status, body=body, report=report)


def _failed_item(info: PartInfo, item: ItemResult) -> dict[str, Any]:
    code = info.code if info.code is not None else failure_code(item.reason)
    return with_reason(
        {
            "00081150": attribute("UI", info.sop_class_uid),
            "00081155": attribute("UI", info.sop_instance_uid),
            "00081197": attribute("US", code),
        },
        item.reason,
    )
