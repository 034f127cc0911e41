"""The upload result page's model: a batch report grouped into studies, series and instances.

Pure functions over the report JSON that ``cases.services.intake`` stores on the
batch; the cases passed in have already been filtered to what the user may see.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cases.models import Case


@dataclass
class InstanceRow:
    name: str
    image_id: int | None
    sop_instance_uid: str
    warnings: list[str]


@dataclass
class SeriesGroup:
    series_instance_uid: str
    modality: str
    instances: list[InstanceRow] = field(default_factory=list)


@dataclass
class StudyGroup:
    study_instance_uid: str
    case_id: int | None
    case: Case | None
    modality: str
    series: list[SeriesGroup] = field(default_factory=list)

    @property
    def instance_count(self) -> int:
        return sum(len(s.instances) for s in self.series)


@dataclass
class ItemRow:
    name: str
    reason: str
    case_id: int | None
    case: Case | None
    image_id: int | None = None
    modality: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class BatchSummary:
    studies: list[StudyGroup]
    plain_images: list[ItemRow]
    duplicates: list[ItemRow]
    rejected: list[ItemRow]
    warning_count: int

    @property
    def case_count(self) -> int:
        """Distinct cases that received images in this upload."""
        ids = {s.case_id for s in self.studies} | {i.case_id for i in self.plain_images}
        return len(ids)


def summarise_report(report: dict[str, Any], cases: dict[int, Case]) -> BatchSummary:
    """Group a batch report's accepted items into studies → series → instances.

    ``cases`` holds the report's cases that the user may see; an item whose case
    is not among them is still listed, without a link. Items whose case is a
    plain-image (non-DICOM) study are listed on their own as single-image cases.
    """
    studies: dict[str, StudyGroup] = {}
    plain: list[ItemRow] = []
    warning_count = 0
    for item in report.get("accepted", []):
        case_id = item.get("case_id")
        case = cases.get(case_id) if case_id is not None else None
        warnings = list(item.get("warnings") or [])
        warning_count += bool(warnings)
        if case is not None and not case.study.is_dicom:
            plain.append(
                ItemRow(
                    name=item.get("name", ""),
                    reason="",
                    case_id=case_id,
                    case=case,
                    image_id=item.get("image_id"),
                    modality=item.get("modality", ""),
                    warnings=warnings,
                )
            )
            continue
        study_uid = item.get("study_instance_uid", "")
        study = studies.get(study_uid)
        if study is None:
            study = studies[study_uid] = StudyGroup(
                study_instance_uid=study_uid, case_id=case_id, case=case, modality=item.get("modality", "")
            )
        series_uid = item.get("series_instance_uid", "")
        series = next((s for s in study.series if s.series_instance_uid == series_uid), None)
        if series is None:
            series = SeriesGroup(series_instance_uid=series_uid, modality=item.get("modality", ""))
            study.series.append(series)
        series.instances.append(
            InstanceRow(
                name=item.get("name", ""),
                image_id=item.get("image_id"),
                sop_instance_uid=item.get("sop_instance_uid", ""),
                warnings=warnings,
            )
        )
    duplicates = [
        ItemRow(
            name=item.get("name", ""),
            reason=item.get("reason", ""),
            case_id=item.get("case_id"),
            case=cases.get(item["case_id"]) if item.get("case_id") is not None else None,
        )
        for item in report.get("duplicates", [])
    ]
    rejected = [
        ItemRow(name=item.get("name", ""), reason=item.get("reason", ""), case_id=None, case=None)
        for item in report.get("rejected", [])
    ]
    return BatchSummary(
        studies=list(studies.values()),
        plain_images=plain,
        duplicates=duplicates,
        rejected=rejected,
        warning_count=warning_count,
    )


def report_case_ids(report: dict[str, Any]) -> set[int]:
    """Every case a batch report mentions (accepted and duplicate items)."""
    ids: set[int] = set()
    for key in ("accepted", "duplicates"):
        for item in report.get(key, []):
            if isinstance(item.get("case_id"), int):
                ids.add(item["case_id"])
    return ids
