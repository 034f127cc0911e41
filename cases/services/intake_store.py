"""Storing one prepared instance: files first, then the rows that point to them, in one transaction.

If the rows fail, the files written for them are removed again, so nothing is
ever half-stored. Used by the intake service only.
"""

from __future__ import annotations

import logging
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from pydicom.uid import generate_uid

from cases.models import Case, Image, ImageKind, Patient, Series, Site, Study, Task, User
from cases.routing import route_header
from cases.services.audit import audit_record
from cases.signals import study_instance_stored
from cases.task_registry import task_get, task_infer_from_image
from oncocore.imaging import Prepared
from oncocore.routing import Route

logger = logging.getLogger(__name__)

IMAGE_REASON = (
    "No routing rule matched the header; the image looks like what this task's model was trained on."
)


# The one reason for every upload that collides with what another site holds (its study, series,
# instance or bytes). It names nothing of the other site, and it is the same whichever object
# collided, so a user of one site cannot tell what another site stores.
REFUSED_HERE = (
    "the upload was refused: this file cannot be added to your site's records; "
    "ask a Curator if it should be here"
)


class StudyElsewhere(Exception):
    """The study (or series) UID is already stored under another site or study."""


def store_prepared(prepared: Prepared, *, site: Site, user: User | None, task: str | None) -> Image:
    """Write the files, then the rows; undo the files if the rows fail."""
    prefix = f"images/{uuid.uuid4().hex}"
    written: list[str] = []

    def put(name: str, data: bytes) -> str:
        stored = default_storage.save(f"{prefix}/{name}", ContentFile(data))
        written.append(stored)
        return stored

    # Without a task given, a DICOM header routes the case by the rules (docs/routing.md): read once.
    routed = route_header(prepared.routing_header) if prepared.kind == "dicom" and task is None else None
    image_task = _task_from_image(prepared, task, routed)  # before the transaction: it runs the models
    try:
        file_name = put(f"source{prepared.stored_ext}", prepared.stored_bytes)
        display_names = [put(f"display_{i:04d}.png", png) for i, png in enumerate(prepared.display_pngs)]
        thumb_name = put("thumbnail.png", prepared.thumbnail_png)
        with transaction.atomic():
            image = _create_rows(
                prepared,
                site=site,
                user=user,
                task=task,
                prefix=prefix,
                file_name=file_name,
                display_name=display_names[len(display_names) // 2],
                thumb_name=thumb_name,
                routed=routed,
                image_task=image_task,
            )
    except BaseException:
        delete_orphans(written)
        raise
    return image


def _create_rows(
    p: Prepared,
    *,
    site: Site,
    user: User | None,
    task: str | None,
    prefix: str,
    file_name: str,
    display_name: str,
    thumb_name: str,
    routed: Route | None,
    image_task: str,
) -> Image:
    patient = None
    if p.patient_pseudonym:
        patient, _ = Patient.objects.get_or_create(
            pseudonym=p.patient_pseudonym, defaults={"sex": p.patient_sex}
        )
    is_dicom = p.kind == "dicom"
    chosen_task = task or (routed.task if routed is not None else Task.UNASSIGNED)
    # The rules say nothing (no rule matched, or a plain image): the task the image looks like, if any.
    routed_by_image = (
        task is None and image_task != Task.UNASSIGNED and (routed is None or routed.header_silent)
    )
    if routed_by_image:
        chosen_task = image_task
    # Plain images carry no modality; the task tells us what they are.
    spec = task_get(chosen_task)
    modality = p.modality or (spec.modality if spec is not None and spec.modality else "OT")
    study_uid = p.study_instance_uid or generate_uid()
    study, study_created = Study.objects.select_for_update().get_or_create(
        study_instance_uid=study_uid,
        defaults={
            "site": site,
            "patient": patient,
            "is_dicom": is_dicom,
            "study_date": p.study_date,
            "study_time": p.study_time,
            "modality": modality,
            "body_part": p.body_part,
            "description": p.study_description,
            "patient_age": p.patient_age,
        },
    )
    if study.site_id != site.pk:
        raise StudyElsewhere("study of another site")  # reported as REFUSED_HERE, never this text
    if study_created:
        case = Case.objects.create(
            site=site,
            study=study,
            task=chosen_task,
            task_inferred=task is None and (is_dicom or routed_by_image),
            task_reason=IMAGE_REASON
            if routed_by_image
            else (routed.reason[:300] if routed is not None else ""),
            created_by=user,
        )
        audit_record(
            action="case.created",
            actor=user,
            obj=case,
            site=site,
            detail={
                "task": chosen_task,
                **_rule(routed),
                **({"task_from": "image"} if routed_by_image else {}),
            },
        )
    else:
        case = study.case
        if routed is not None and routed.task != Task.UNASSIGNED:
            _route_unassigned(case, routed, user=user)
    series, _ = Series.objects.get_or_create(
        series_instance_uid=p.series_instance_uid or generate_uid(),
        defaults={
            "study": study,
            "modality": modality,
            "body_part": p.body_part,
            "series_number": p.series_number,
            "description": p.series_description,
        },
    )
    if series.study_id != study.pk:
        raise StudyElsewhere("series of another study")  # reported as REFUSED_HERE
    if is_dicom:
        # In this transaction, so a kept identity and the rows stand or fall together.
        responses = study_instance_stored.send(
            sender=Study, study=study, created=study_created, identity=p.identity
        )
        p.warnings = [*p.warnings, *(w for _, warnings in responses for w in (warnings or []))]
    image = Image.objects.create(
        series=series,
        case=case,
        kind=ImageKind.DICOM if is_dicom else ImageKind.IMAGE,
        sop_instance_uid=p.sop_instance_uid or generate_uid(),
        sop_class_uid=p.sop_class_uid or "",
        transfer_syntax_uid=p.transfer_syntax_uid or "",
        instance_number=p.instance_number,
        storage_prefix=prefix,
        file=file_name,
        display=display_name,
        thumbnail=thumb_name,
        sha256=p.sha256,
        stored_sha256=p.stored_sha256,
        file_size=len(p.stored_bytes),
        rows=p.rows,
        cols=p.cols,
        frames=p.frames,
        samples_per_pixel=p.samples_per_pixel,
        photometric=p.photometric,
        bits_stored=p.bits_stored,
        pixel_spacing_row=p.pixel_spacing[0] if p.pixel_spacing else None,
        pixel_spacing_col=p.pixel_spacing[1] if p.pixel_spacing else None,
        window_center=p.window[0] if p.window else None,
        window_width=p.window[1] if p.window else None,
        burned_in_annotation=p.burned_in_annotation,
        header=p.header,
        warnings=p.warnings,
    )
    if p.burned_in_annotation and not case.flagged:
        case.flagged = True
        case.flag_reason = "Burned-in annotation: pixel data may show patient identity."
        case.save(update_fields=["flagged", "flag_reason", "updated_at"])
    return image


def _task_from_image(p: Prepared, task: str | None, routed: Route | None) -> str:
    """For a new study that neither the uploader nor the header rules give a task: the task its image looks like.

    Asks the models' input suitability checks (``task_infer_from_image``); Unassigned otherwise.
    Runs before the intake's transaction (it runs the models).
    """
    if task or (routed is not None and not routed.header_silent):
        return Task.UNASSIGNED
    if p.study_instance_uid and Study.objects.filter(study_instance_uid=p.study_instance_uid).exists():
        return Task.UNASSIGNED  # the study's case has its task already
    return task_infer_from_image(data=p.stored_bytes, dicom=p.kind == "dicom")


def _rule(routed: Route | None) -> dict[str, object]:
    """The audit detail naming the routing rule that decided, if one did."""
    if routed is None:
        return {}
    return {"routing_rule": routed.rule.ref if routed.rule is not None else None}


def _route_unassigned(case: Case, routed: Route, *, user: User | None) -> None:
    """A later instance routes a case its first left Unassigned, unless a person chose Unassigned.

    A study's first instance may be a localizer (routed to no task) and the next an axial T1.
    """
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if locked.task != Task.UNASSIGNED or not locked.task_inferred:
        return
    locked.task = routed.task
    locked.task_reason = routed.reason[:300]
    locked.save(update_fields=["task", "task_reason", "updated_at"])
    case.task, case.task_reason = locked.task, locked.task_reason
    audit_record(
        action="case.task_changed",
        actor=user,
        obj=locked,
        site=locked.site,
        detail={"from": Task.UNASSIGNED, "to": routed.task, "by": "routing", **_rule(routed)},
    )


def delete_orphans(names: list[str]) -> None:
    """Remove files written for rows that were not saved; a file that cannot go is logged, not raised."""
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("could not remove orphan file %s", name)
