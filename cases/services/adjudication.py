"""Curator adjudication: the final label for an image two readers disagreed on."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from cases.models import Adjudication, Case, CaseStatus, Image, User
from cases.services.audit import AuditContext, audit_record
from cases.services.events import CASE_ADJUDICATED, case_event_send
from cases.services.lifecycle import case_set_status
from cases.services.review import (
    ai_provenance,
    case_readings,
    case_set_final,
    checked_label,
    final_label,
    locked_case_of,
    reading_time,
)
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed


@transaction.atomic
def adjudication_submit(
    *,
    case: Case,
    image: Image,
    curator: User,
    label: str = "",
    non_diagnostic: bool = False,
    note: str = "",
    opened_at: datetime | None = None,
    audit: AuditContext | None = None,
) -> Adjudication:
    """Record a Curator's final label for one disputed image; the case is reviewed once none is left.

    The readings weighed and the AI result shown are frozen into the row. The
    caller checks the adjudicate permission. Raises InvalidInput for a label
    outside the task's classes or an image nobody disagreed on, and
    TransitionNotAllowed for a case not awaiting adjudication, an image already
    decided, or a Curator who was one of the image's readers.
    """
    case = locked_case_of(image=image, case=case)
    if case.status != CaseStatus.ADJUDICATION:
        raise TransitionNotAllowed(f"a {case.get_status_display().lower()} case is not awaiting adjudication")
    readings = {r.image_id: r for r in case_readings(case=case)}
    reading = readings.get(image.pk)
    if reading is None or not reading.disagreement:
        raise InvalidInput("the readers agreed on this image: there is nothing to adjudicate")
    if any(r.reviewer_id == curator.pk for r in reading.reviews):
        raise TransitionNotAllowed("you read this image yourself: another Curator must adjudicate it")
    prediction, label = checked_label(image=image, task=case.task, label=label, non_diagnostic=non_diagnostic)
    try:
        with transaction.atomic():
            decision = Adjudication.objects.create(
                case=case,
                image=image,
                curator=curator,
                label=label,
                non_diagnostic=non_diagnostic,
                task=case.task,
                note=note.strip(),
                readings=[
                    {
                        "review": r.pk,
                        "reader": r.reviewer.get_username(),
                        "label": r.label,
                        "decision": r.decision,
                        "note": r.note,
                    }
                    for r in reading.reviews
                ],
                **ai_provenance(prediction),
                **reading_time(opened_at),
            )
    except IntegrityError:
        raise TransitionNotAllowed("this image has already been adjudicated") from None
    decided = dict(Adjudication.objects.filter(case=case).values_list("image_id", "label"))
    if all(r.image_id in decided for r in readings.values() if r.disagreement):
        finals = [final_label(r, adjudicated=decided.get(r.image_id)) for r in readings.values()]
        case_set_final(case=case, labels=[f["label"] for f in finals])
        case_set_status(case_id=case.pk, status=CaseStatus.REVIEWED, strict=True)
        case_event_send(
            event=CASE_ADJUDICATED,
            case_id=case.pk,
            detail={"images": finals},
        )
    audit_record(
        action="adjudication.decided",
        actor=curator,
        obj=decision,
        site=case.site,
        audit=audit,
        detail={"case": case.pk, "image": image.pk, "label": label, "readings": sorted(reading.labels)},
    )
    return decision
