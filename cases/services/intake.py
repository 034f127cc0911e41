"""Study intake: the one service every entry point uses (web, CLI, REST, DICOMweb, DIMSE).

Each uploaded blob is expanded (zips), each file is prepared by
``oncocore.imaging`` (sniffed, checked against limits, de-identified, decoded,
rendered) and stored on its own: files first, then rows in one transaction,
and the files removed again if the rows fail. A bad file is reported with its
reason and never stops the good ones; nothing is ever half-stored.
Re-uploading the same bytes or the same SOP Instance UID adds nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypedDict

from django.conf import settings
from django.db import IntegrityError, transaction

from cases.models import (
    AuditSource,
    Image,
    IntakeBatch,
    Site,
    User,
)
from cases.services.audit import AuditContext, audit_record
from cases.services.intake_store import REFUSED_HERE, StudyElsewhere, store_prepared
from cases.signals import images_ingested
from cases.task_registry import task_get, task_keys
from oncocore.imaging import (
    DeidOptions,
    Limits,
    Rejected,
    SourceFile,
    SourceRejected,
    expand_upload,
    neutral_name,
    prepare,
    pseudonym_for,
    scrub_name,
)
from oncocore.tasks import UNASSIGNED

logger = logging.getLogger(__name__)

# The audit source of a batch whose caller passed no context: each way in is its own
# source, and a demo load is run from the command line.
_AUDIT_SOURCE: dict[str, str] = {
    IntakeBatch.Source.WEB: AuditSource.WEB,
    IntakeBatch.Source.CLI: AuditSource.CLI,
    IntakeBatch.Source.API: AuditSource.API,
    IntakeBatch.Source.DICOMWEB: AuditSource.DICOMWEB,
    IntakeBatch.Source.DIMSE: AuditSource.DIMSE,
    IntakeBatch.Source.DEMO: AuditSource.CLI,
}


@dataclass
class ItemResult:
    name: str
    status: Literal["accepted", "duplicate", "rejected"]
    reason: str = ""
    image_id: int | None = None
    case_id: int | None = None
    study_instance_uid: str = ""
    series_instance_uid: str = ""
    sop_instance_uid: str = ""
    modality: str = ""
    warnings: list[str] = field(default_factory=list)
    # 1-based place of the file in the upload (zip entries in archive order): how a caller
    # that knows what it sent finds its file, since ``name`` is neutral (file-003.dcm).
    position: int = 0


@dataclass
class IntakeReport:
    batch_id: str
    items: list[ItemResult]

    @property
    def accepted(self) -> list[ItemResult]:
        return [i for i in self.items if i.status == "accepted"]

    @property
    def duplicates(self) -> list[ItemResult]:
        return [i for i in self.items if i.status == "duplicate"]

    @property
    def rejected(self) -> list[ItemResult]:
        return [i for i in self.items if i.status == "rejected"]

    @property
    def case_ids(self) -> list[int]:
        return sorted({i.case_id for i in self.items if i.case_id is not None and i.status == "accepted"})

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_id": self.batch_id,
            "accepted": [asdict(i) for i in self.accepted],
            "duplicates": [asdict(i) for i in self.duplicates],
            "rejected": [{"name": i.name, "reason": i.reason, "position": i.position} for i in self.rejected],
            "case_ids": self.case_ids,
        }


def intake_limits() -> Limits:
    return Limits(
        max_pixels_per_frame=settings.INTAKE_MAX_PIXELS,
        max_frames=settings.INTAKE_MAX_FRAMES,
        max_zip_entries=settings.INTAKE_MAX_ZIP_ENTRIES,
        max_zip_total_bytes=settings.INTAKE_MAX_ZIP_BYTES,
        max_zip_ratio=float(settings.INTAKE_MAX_ZIP_RATIO),
        max_file_bytes=settings.INTAKE_MAX_REQUEST_BYTES,
    )


def deid_options() -> DeidOptions:
    return DeidOptions(
        retain_uids=True,
        retain_full_dates=settings.DEID_RETAIN_FULL_DATES,
        retain_patient_characteristics=settings.DEID_RETAIN_PATIENT_CHARACTERISTICS,
    )


def intake_sources(
    *,
    uploads: Iterable[tuple[str, bytes]] | Iterable[SourceFile | SourceRejected],
    site: Site,
    user: User | None,
    source: str,
    task: str | None = None,
    patient_ref: str = "",
    audit: AuditContext | None = None,
    progress: Any = None,
    announce: bool = True,
) -> IntakeReport:
    """Ingest uploaded blobs (name, bytes) or already-expanded sources; returns the per-file report.

    Never raises for bad input: every problem becomes a rejected item with a reason.
    ``task`` (a task of the registry, or Unassigned) overrides the inferred one; ``patient_ref`` links plain
    images to a patient pseudonym. ``progress`` (optional) is called once per file.
    ``audit`` says who and from where; without one the batch's ``source`` stands
    in (a demo load counts as the command line) with ``user`` as the actor.
    ``announce=False`` sends no ``images_ingested`` (so nothing is queued for
    prediction): the base data import, whose images are labelled already.
    """
    if task is not None and task != UNASSIGNED and task_get(task) is None:
        raise ValueError(f"unknown task {task!r}; choose one of {', '.join(task_keys(unassigned=True))}")
    batch_id = uuid.uuid4()
    limits = intake_limits()
    options = deid_options()
    key = settings.PSEUDONYM_KEY.encode()
    items: list[ItemResult] = []
    seen_sha: dict[str, str] = {}
    seen_sop: dict[str, str] = {}
    for position, src in enumerate(_expand_all(uploads, limits), start=1):
        if progress is not None:
            progress(src.name)
        if isinstance(src, SourceRejected):
            items.append(ItemResult(name=src.name, status="rejected", reason=src.reason, position=position))
            continue
        item = _intake_one(
            src,
            site=site,
            user=user,
            task=task,
            patient_ref=patient_ref,
            limits=limits,
            options=options,
            key=key,
            seen_sha=seen_sha,
            seen_sop=seen_sop,
        )
        item.position = position
        items.append(item)
    report = IntakeReport(batch_id=str(batch_id), items=items)
    if audit is None:
        audit = AuditContext.system(source=_AUDIT_SOURCE.get(source, AuditSource.CLI), actor=user)
    _record_batch(
        report,
        batch_id=batch_id,
        site=site,
        user=user,
        source=source,
        task=task,
        audit=audit,
        announce=announce,
    )
    return report


def _expand_all(
    uploads: Iterable[tuple[str, bytes]] | Iterable[SourceFile | SourceRejected], limits: Limits
) -> Iterator[SourceFile | SourceRejected]:
    """Every file of the upload under its neutral name (``file-001.dcm``...), the original one gone.

    The name a file was uploaded under may be the patient's, and from here on it
    would reach the batch report, the upload page, the audit and the logs.
    """
    position = 0
    for upload in uploads:
        if isinstance(upload, (SourceFile, SourceRejected)):
            expanded: Iterable[SourceFile | SourceRejected] = [upload]
        else:
            name, data = upload
            expanded = expand_upload(name, data, limits)
        for src in expanded:
            position += 1
            neutral = neutral_name(position, src.name)
            if isinstance(src, SourceRejected):
                yield SourceRejected(neutral, scrub_name(src.reason, src.name, neutral))
            else:
                yield dataclasses.replace(src, name=neutral)


def _intake_one(
    src: SourceFile,
    *,
    site: Site,
    user: User | None,
    task: str | None,
    patient_ref: str,
    limits: Limits,
    options: DeidOptions,
    key: bytes,
    seen_sha: dict[str, str],
    seen_sop: dict[str, str],
) -> ItemResult:
    sha = src.original_sha256 or hashlib.sha256(src.data).hexdigest()
    if sha in seen_sha:
        return ItemResult(
            name=src.name, status="duplicate", reason=f"same bytes as {seen_sha[sha]} in this upload"
        )
    existing = Image.objects.filter(sha256=sha).values("pk", "case_id", "case__site_id").first()
    if existing:
        return _duplicate(src.name, existing, "these bytes were already uploaded", site=site)
    try:
        prepared = prepare(src, limits=limits, deid=options, pseudonym_key=key)
    except Rejected as exc:
        return ItemResult(name=src.name, status="rejected", reason=exc.reason)
    seen_sha[sha] = src.name
    prepared.sha256 = sha  # the bytes as first uploaded (see SourceFile.original_sha256)
    if prepared.sop_instance_uid:
        if prepared.sop_instance_uid in seen_sop:
            return ItemResult(
                name=src.name,
                status="duplicate",
                reason=f"same SOP Instance UID as {seen_sop[prepared.sop_instance_uid]} in this upload",
            )
        existing = (
            Image.objects.filter(sop_instance_uid=prepared.sop_instance_uid)
            .values("pk", "case_id", "case__site_id")
            .first()
        )
        if existing:
            return _duplicate(src.name, existing, "this SOP Instance UID is already stored", site=site)
        seen_sop[prepared.sop_instance_uid] = src.name
    if prepared.kind == "image" and patient_ref:
        prepared.patient_pseudonym = pseudonym_for(
            issuer=f"oncoportal:{site.code}", patient_id=patient_ref, key=key
        )
    try:
        image = store_prepared(prepared, site=site, user=user, task=task)
    except StudyElsewhere:
        return ItemResult(name=src.name, status="rejected", reason=REFUSED_HERE)
    except IntegrityError:
        # A concurrent upload stored the same instance between our check and insert.
        return ItemResult(name=src.name, status="duplicate", reason="stored by a concurrent upload")
    except OSError:
        # The server's fault, not the file's: the detail (paths, errno) goes to the log only.
        logger.exception("storage failed for %s", src.name)
        return ItemResult(
            name=src.name,
            status="rejected",
            reason="storage error: the server could not save this file; nothing was stored, try again later",
        )
    return ItemResult(
        name=src.name,
        status="accepted",
        image_id=image.pk,
        case_id=image.case_id,
        study_instance_uid=image.series.study.study_instance_uid,
        series_instance_uid=image.series.series_instance_uid,
        sop_instance_uid=image.sop_instance_uid,
        modality=image.series.modality,
        warnings=prepared.warnings,
    )


class _StoredImage(TypedDict):
    """An already stored image, as ``Image.objects.values("pk", "case_id", "case__site_id")`` gives it."""

    pk: int
    case_id: int
    case__site_id: int


def _duplicate(name: str, existing: _StoredImage, why: str, *, site: Site) -> ItemResult:
    """Same site: a duplicate naming the case (the uploader can see it). Another site's: refused.

    The refusal is the one any cross-site collision gets (:data:`REFUSED_HERE`), with no
    image or case: saying "already stored" would tell a user of one site what another holds.
    """
    if existing["case__site_id"] != site.pk:
        return ItemResult(name=name, status="rejected", reason=REFUSED_HERE)
    return ItemResult(
        name=name,
        status="duplicate",
        reason=f"{why} (image {existing['pk']}, case {existing['case_id']}); nothing added",
        image_id=existing["pk"],
        case_id=existing["case_id"],
    )


def _record_batch(
    report: IntakeReport,
    *,
    batch_id: uuid.UUID,
    site: Site,
    user: User | None,
    source: str,
    task: str | None,
    audit: AuditContext,
    announce: bool = True,
) -> None:
    with transaction.atomic():
        batch = IntakeBatch.objects.create(
            id=batch_id,
            site=site,
            uploaded_by=user,
            source=source,
            requested_task=task or "",
            accepted_count=len(report.accepted),
            duplicate_count=len(report.duplicates),
            rejected_count=len(report.rejected),
            report=report.to_dict(),
        )
        audit_record(
            action="intake.batch",
            actor=user,
            obj=batch,
            site=site,
            audit=audit,
            detail={"accepted": len(report.accepted), "rejected": len(report.rejected), "source": source},
        )
        if report.case_ids and announce:
            # robust: a broker outage must not fail an upload whose files and rows are
            # committed; the sweeper sends queued predictions again.
            transaction.on_commit(
                lambda: images_ingested.send(sender=IntakeBatch, case_ids=report.case_ids), robust=True
            )
