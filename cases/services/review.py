"""Reader reviews: every confirmation or correction becomes a labelled example with its provenance."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from cases.models import Case, CaseStatus, Image, Review, ReviewDecision, User
from cases.models.case import TASK_CLASSES
from cases.services.audit import audit_record
from cases.services.lifecycle import case_set_status
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed

REVIEWABLE = {CaseStatus.RECEIVED, CaseStatus.PREDICTED, CaseStatus.IN_REVIEW, CaseStatus.REVIEWED}


def review_class_names(*, prediction: Any | None, task: str) -> list[str]:
    """The labels a reader may choose: the shown prediction's classes, else the task's."""
    if prediction is not None and prediction.probabilities:
        return list(prediction.probabilities)
    return list(TASK_CLASSES.get(task, []))


@transaction.atomic
def review_submit(
    *,
    case: Case,
    image: Image,
    reviewer: User,
    label: str = "",
    non_diagnostic: bool = False,
    note: str = "",
    opened_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> Review:
    """Record one reader's label for one image and move the case along.

    The AI's label, probabilities and model version at this moment are frozen
    into the review. The first review puts the case in review; once every
    image has one, the case is reviewed. Raises InvalidInput for a label outside
    the task's classes, TransitionNotAllowed for a case that cannot be reviewed
    now or an image this reader has already read.
    """
    case = Case.objects.select_for_update().get(pk=case.pk)
    if image.case_id != case.pk:
        raise InvalidInput("that image belongs to another case")
    if case.status not in REVIEWABLE:
        raise TransitionNotAllowed(f"a {case.get_status_display().lower()} case cannot be reviewed yet")
    if case.task not in TASK_CLASSES:
        raise InvalidInput("set the case's task before reviewing it")
    # The newest finished prediction: the one the reader was shown.
    prediction = image.predictions.filter(status="done").order_by("-pk").first()  # type: ignore[attr-defined]
    classes = review_class_names(prediction=prediction, task=case.task)
    if non_diagnostic:
        label = ""
    elif label not in classes:
        raise InvalidInput(f"choose one of: {', '.join(classes)}" if label else "choose a label or non-diagnostic")
    if non_diagnostic:
        decision = ReviewDecision.NON_DIAGNOSTIC
    elif prediction is None:
        decision = ReviewDecision.LABEL
    else:
        decision = ReviewDecision.CONFIRM if label == prediction.label else ReviewDecision.CORRECT
    now = timezone.now()
    try:
        with transaction.atomic():
            review = Review.objects.create(
                case=case,
                image=image,
                reviewer=reviewer,
                decision=decision,
                label=label,
                task=case.task,
                note=note.strip(),
                ai_label=prediction.label if prediction else "",
                ai_probabilities=prediction.probabilities if prediction else {},
                ai_model_version=str(prediction.model_version) if prediction else "",
                ai_untrained=bool(prediction and prediction.untrained),
                prediction_ref=prediction.pk if prediction else None,
                opened_at=opened_at,
                seconds_spent=(now - opened_at).total_seconds() if opened_at else None,
            )
    except IntegrityError:
        raise TransitionNotAllowed("you have already reviewed this image") from None
    if case.status not in (CaseStatus.IN_REVIEW, CaseStatus.REVIEWED):
        case_set_status(case_id=case.pk, status=CaseStatus.IN_REVIEW)
    unreviewed = case.images.exclude(reviews__isnull=False).exists()
    if not unreviewed:
        case_set_status(case_id=case.pk, status=CaseStatus.REVIEWED)
    audit_record(
        action="review.submitted",
        actor=reviewer,
        obj=review,
        site=case.site,
        request=request,
        detail={"case": case.pk, "image": image.pk, "decision": decision, "label": label, "ai_label": review.ai_label},
    )
    return review
