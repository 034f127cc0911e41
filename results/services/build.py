"""Building the result objects of a case: Secondary Captures and SRs stored like every instance, then their rows.

``results_build(case_id=..., trigger="prediction")`` makes, from each DICOM
image's newest finished prediction of the case's task, the saliency overlays
(one Secondary Capture series) and the AI SR; ``trigger="review"`` makes the
review SR once every image has its final label. Each object's Part 10 bytes
are written to ``results/<case id>/<SOP Instance UID>.dcm`` first, then all
rows are created in one transaction (the files are deleted if that fails).
Building again from the same predictions or reviews makes nothing.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from typing import Any, Literal

import pydicom
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from pydicom.dataset import Dataset

from cases.models import Case
from cases.task_registry import task_get
from oncocore.dicom_results import (
    ImageResult,
    ImageReview,
    ModelInfo,
    Overlay,
    ai_sr,
    review_sr,
    saliency_sc,
)
from oncocore.study_result import ImageOutcome, study_finding
from results.models import ResultKind, ResultObject
from results.services.sources import (
    case_dicom_images,
    final_labels,
    newest_predictions,
    overlay_rgb,
    person_name,
    source_header,
)

logger = logging.getLogger(__name__)

__all__ = ["results_build"]


def results_build(*, case_id: int, trigger: Literal["prediction", "review"]) -> list[ResultObject]:
    """Build and store the case's result objects for ``trigger``; returns the new rows.

    Idempotent: what was already built from the same predictions (or reviews)
    is not built again, and [] comes back. Also [] (with a log line saying why)
    for a plain-image case, an untrained model, nothing scored or nothing
    final yet. Raises Case.DoesNotExist, ValueError for an unknown trigger.
    """
    case = Case.objects.select_related("study", "site").get(pk=case_id)
    if trigger not in ("prediction", "review"):
        raise ValueError(f"unknown trigger {trigger!r}: 'prediction' or 'review'")
    if not case.study.is_dicom:
        logger.info("results: case %s is a plain-image upload, not DICOM: no result objects", case.pk)
        return []
    images = case_dicom_images(case=case)
    if not images:
        logger.info("results: case %s has no DICOM image: no result objects", case.pk)
        return []
    if trigger == "prediction":
        return _build_ai(case, images)
    return _build_review(case, images)


def _build_ai(case: Case, images: list[Any]) -> list[ResultObject]:
    predictions = newest_predictions(case=case, images=images)
    if not predictions:
        logger.info("results: case %s has no finished prediction of task %s yet", case.pk, case.task)
        return []
    if any(p.untrained or p.model_version.untrained for p in predictions):
        logger.info("results: case %s was scored by an untrained model: no AI result is sent", case.pk)
        return []
    # An image outside the model's scope has no class: it is no part of the AI result sent.
    predictions = [p for p in predictions if not p.out_of_scope]
    if not predictions:
        logger.info(
            "results: case %s: every image is outside the model's scope: no AI result is sent", case.pk
        )
        return []
    ids = sorted(p.pk for p in predictions)
    if ResultObject.objects.filter(case=case, kind=ResultKind.AI_SR, source__predictions=ids).exists():
        logger.info("results: case %s: the AI result of predictions %s is already built", case.pk, ids)
        return []
    spec = task_get(case.task)
    classes = list(spec.classes) if spec else []
    positive = set(spec.positive_classes) if spec else set()
    headers = {p.image_id: source_header(p.image) for p in predictions}
    overlays = []
    for p in predictions:
        rgb = overlay_rgb(p)
        if rgb is not None:
            overlays.append((p, Overlay(headers[p.image_id], rgb, frame=p.frame)))
    sc = saliency_sc(overlays=[o for _, o in overlays]) if overlays else []
    sc_by_image = {p.image_id: ds for (p, _), ds in zip(overlays, sc, strict=True)}
    results = [
        ImageResult(
            image_id=p.image_id,
            source=headers[p.image_id],
            label=p.label,
            probabilities={str(k): float(v) for k, v in (p.probabilities or {}).items()},
            uncertainty=p.uncertainty,
            frame=p.frame,
            overlay=sc_by_image.get(p.image_id),
        )
        for p in predictions
    ]
    finding = study_finding(
        [
            ImageOutcome(r.image_id, r.label, p.confidence, r.probabilities, r.uncertainty)
            for r, p in zip(results, predictions, strict=True)
        ],
        positive,
    )
    lead = next(p for p in predictions if p.image_id == finding.key_image_id).model_version
    report = ai_sr(
        study=finding,
        images=results,
        model=ModelInfo(name=lead.name, version=lead.version, task=case.task),
        classes=classes,
    )
    source = {"trigger": "prediction", "predictions": ids, "model_version": str(lead)}
    built: list[tuple[ResultKind, Dataset, dict[str, Any]]] = [
        (ResultKind.SALIENCY_SC, ds, {**source, "image": p.image_id, "prediction": p.pk})
        for (p, _), ds in zip(overlays, sc, strict=True)
    ]
    built.append((ResultKind.AI_SR, report, {**source, "finding": finding.label}))
    return _store(case, built)


def _build_review(case: Case, images: list[Any]) -> list[ResultObject]:
    finals = final_labels(case=case, images=images)
    if finals is None:
        logger.info("results: case %s is not fully reviewed (or adjudicated) yet", case.pk)
        return []
    review_ids = sorted(r for f in finals for r in f.review_ids)
    adjudication_ids = sorted(f.adjudication_id for f in finals if f.adjudication_id is not None)
    source = {"trigger": "review", "reviews": review_ids, "adjudications": adjudication_ids}
    done = ResultObject.objects.filter(
        case=case,
        kind=ResultKind.REVIEW_SR,
        source__reviews=review_ids,
        source__adjudications=adjudication_ids,
    )
    if done.exists():
        logger.info("results: case %s: the review result of these readings is already built", case.pk)
        return []
    spec = task_get(case.task)
    positive = set(spec.positive_classes) if spec else set()
    headers = {f.image.pk: source_header(f.image) for f in finals}
    # The study's final label: the study rule over the final labels (non-diagnostic ones only if all are).
    diagnostic = [f for f in finals if f.label] or finals
    human = study_finding([ImageOutcome(f.image.pk, f.label, None) for f in diagnostic], positive)
    ai = study_finding(
        [
            ImageOutcome(
                f.image.pk, f.ai_label, max(f.ai_probabilities.values(), default=None), f.ai_probabilities
            )
            for f in finals
            if f.ai_label
        ],
        positive,
    )
    lead = next(f for f in finals if f.image.pk == human.key_image_id)
    ai_report = _newest_ai_report(case)
    name = person_name(lead.decided_by)
    report = review_sr(
        images=[
            ImageReview(
                image_id=f.image.pk,
                source=headers[f.image.pk],
                label=f.label,
                ai_label=f.ai_label,
                role=f.role,
                decided_at=f.decided_at,
                name=person_name(f.decided_by),
                readers=f.readers,
                adjudicated=f.adjudicated,
            )
            for f in finals
        ],
        study_label=human.label,
        key_image_id=lead.image.pk,
        ai_study_label=ai.label,
        ai_report=ai_report[1] if ai_report else None,
        verifying_observer=(name, case.site.name) if name else None,
        content_datetime=max(f.decided_at for f in finals),
    )
    if ai_report:
        source["ai_sr"] = ai_report[0].sop_instance_uid
    return _store(case, [(ResultKind.REVIEW_SR, report, {**source, "final": human.label})])


def _newest_ai_report(case: Case) -> tuple[ResultObject, Dataset] | None:
    row = ResultObject.objects.filter(case=case, kind=ResultKind.AI_SR).order_by("-created_at", "-pk").first()
    if row is None:
        return None
    try:
        with default_storage.open(row.file.name, "rb") as handle:
            return row, pydicom.dcmread(io.BytesIO(handle.read()), stop_before_pixels=True)
    except FileNotFoundError:
        logger.warning("results: case %s: the AI SR file %s is gone; not referenced", case.pk, row.file.name)
        return None


def _part10(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _store(case: Case, built: Sequence[tuple[ResultKind, Dataset, dict[str, Any]]]) -> list[ResultObject]:
    """Files first, then every row in one transaction; if the rows fail, the files go too."""
    rows: list[ResultObject] = []
    written: list[str] = []
    try:
        for kind, ds, source in built:
            data = _part10(ds)
            name = default_storage.save(f"results/{case.pk}/{ds.SOPInstanceUID}.dcm", ContentFile(data))
            written.append(name)
            rows.append(
                ResultObject(
                    case=case,
                    kind=kind,
                    study_instance_uid=ds.StudyInstanceUID,
                    series_instance_uid=ds.SeriesInstanceUID,
                    sop_instance_uid=ds.SOPInstanceUID,
                    sop_class_uid=ds.SOPClassUID,
                    series_number=ds.get("SeriesNumber"),
                    instance_number=ds.get("InstanceNumber"),
                    file=name,
                    sha256=hashlib.sha256(data).hexdigest(),
                    file_size=len(data),
                    source=source,
                )
            )
        with transaction.atomic():
            for row in rows:
                row.save()
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    logger.info(
        "results: case %s: built %s", case.pk, ", ".join(f"{r.kind} {r.sop_instance_uid}" for r in rows)
    )
    return rows
