"""Reader reviews: every confirmation or correction becomes a labelled example with its provenance."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import Case, CaseStatus, Image, Review, ReviewDecision, ReviewPolicy, User
from cases.services.audit import AuditContext, audit_record
from cases.services.events import REVIEW_COMPLETED, case_event_send
from cases.services.lifecycle import case_set_status
from cases.task_registry import is_positive_finding, task_classes
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed

REVIEWABLE = {CaseStatus.RECEIVED, CaseStatus.PREDICTED, CaseStatus.IN_REVIEW}


@dataclass(frozen=True)
class Policy:
    """How a task's images are read: the number of independent readings, and whether blind first."""

    readers_required: int = 1
    blind_first_reading: bool = False


def reading_policy(*, task: str) -> Policy:
    """The task's ReviewPolicy (one reader, AI shown, without a row)."""
    row = ReviewPolicy.objects.filter(task=task).values("readers_required", "blind_first_reading").first()
    return Policy(**row) if row else Policy()


def readers_required(*, task: str) -> int:
    """Independent readings each image of this task needs (the task's ReviewPolicy; 1 without one)."""
    return reading_policy(task=task).readers_required


@dataclass
class ImageReading:
    """Where one image stands in its reading: the readings so far against the number required.

    ``reviews`` are the readings that count (one per reader); a blind first
    reading still waiting for its reader's reading after the AI is shown
    (``Review.awaits_reveal``) is moved to ``blind``: kept, never counted.
    """

    image_id: int
    required: int
    reviews: list[Review] = field(default_factory=list)
    blind: list[Review] = field(default_factory=list)

    def __post_init__(self) -> None:
        every = [*self.reviews, *self.blind]
        self.reviews = [r for r in every if not r.awaits_reveal]
        self.blind = [r for r in every if r.awaits_reveal]

    @property
    def complete(self) -> bool:
        return len(self.reviews) >= self.required

    @property
    def labels(self) -> set[str]:
        return {r.label for r in self.reviews}  # "" stands for non-diagnostic

    @property
    def disagreement(self) -> bool:
        """Two or more readers, and they chose different labels."""
        return self.required > 1 and self.complete and len(self.labels) > 1

    def read_by(self, user: User) -> bool:
        """The user has made their (counted) reading of this image."""
        return any(r.reviewer_id == user.pk for r in self.reviews)

    def blind_reading_of(self, user: User) -> Review | None:
        """The user's blind first reading, if they made one."""
        return next((r for r in self.blind if r.reviewer_id == user.pk), None)

    def hidden_from(self, user: User) -> bool:
        """A blinded double read: until an image has all its readings, a reader who has
        not read it yet sees no one else's label."""
        return self.required > 1 and not self.complete and not self.read_by(user)


def image_readings(
    *, reviews_by_image: Iterable[tuple[int, Sequence[Review]]], required: int
) -> list[ImageReading]:
    return [ImageReading(image_id=i, required=required, reviews=list(r)) for i, r in reviews_by_image]


def case_readings(*, case: Case) -> list[ImageReading]:
    """Every image's reading state, from the database (the service's view, under the case lock)."""
    by_image: dict[int, list[Review]] = {pk: [] for pk in case.images.values_list("pk", flat=True)}
    for review in Review.objects.filter(case=case).select_related("reviewer").order_by("submitted_at", "pk"):
        by_image.setdefault(review.image_id, []).append(review)
    return image_readings(reviews_by_image=by_image.items(), required=readers_required(task=case.task))


def reading_refusal(*, case: Case, reading: ImageReading | None, reviewer: User) -> str | None:
    """Why ``reviewer`` may not read this image now (None: they may). Final is final: no reading
    once the case is adjudicated or reviewed, or once the image has its readings."""
    if case.status == CaseStatus.ADJUDICATION:
        return "the readers disagreed: this case now waits for a Curator's adjudication"
    if reading is not None and reading.read_by(reviewer):
        return "you have already reviewed this image"
    if case.status == CaseStatus.REVIEWED:
        return "this case is reviewed: its final label stands and takes no further reading"
    if case.status not in REVIEWABLE:
        return f"a {case.get_status_display().lower()} case cannot be reviewed yet"
    if reading is not None and reading.complete:
        return "this image has all its readings: its label is final"
    return None


def review_class_names(*, prediction: Any | None, task: str) -> list[str]:
    """The labels a reader may choose: the shown prediction's classes, else the task's.

    In the task's own order (the shortcut digits depend on it): PostgreSQL's
    jsonb keeps a prediction's probabilities in an order of its own.
    """
    known = task_classes(task)
    if prediction is not None and prediction.probabilities:
        rank = {name: index for index, name in enumerate(known)}
        return sorted(prediction.probabilities, key=lambda name: (rank.get(name, len(rank)), name))
    return known


def locked_case_of(*, image: Image, case: Case) -> Case:
    """The case row, locked for this transaction; InvalidInput if ``image`` is not one of its images."""
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if image.case_id != locked.pk:
        raise InvalidInput("that image belongs to another case")
    return locked


def checked_label(*, image: Image, task: str, label: str, non_diagnostic: bool) -> tuple[Any | None, str]:
    """The prediction the reader was shown (the newest finished one) and the label, checked against its classes.

    Non-diagnostic gives an empty label. Raises InvalidInput for a label that is not one of the classes.
    """
    prediction = image.predictions.filter(status="done").order_by("-pk").first()
    if non_diagnostic:
        return prediction, ""
    classes = review_class_names(prediction=prediction, task=task)
    if label not in classes:
        raise InvalidInput(
            f"choose one of: {', '.join(classes)}" if label else "choose a label or non-diagnostic"
        )
    return prediction, label


def ai_provenance(prediction: Any | None) -> dict[str, Any]:
    """The AI result as a reader saw it, frozen into their review or adjudication."""
    return {
        "ai_label": prediction.label if prediction else "",
        "ai_probabilities": prediction.probabilities if prediction else {},
        "ai_model_version": str(prediction.model_version) if prediction else "",
    }


def reading_time(opened_at: datetime | None) -> dict[str, Any]:
    """When the reader opened the case and how long they took (unknown without ``opened_at``)."""
    return {
        "opened_at": opened_at,
        "seconds_spent": (timezone.now() - opened_at).total_seconds() if opened_at else None,
    }


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
    audit: AuditContext | None = None,
) -> Review:
    """Record one reader's label for one image and move the case along.

    The AI's label, probabilities and model version at this moment are frozen
    into the review, with whether the reader was shown them (``ai_visible``).
    Under the task's blind first reading, a reader's first reading of an image
    with an AI result is made without it: kept, but it counts only once the
    same reader has read the image again with the AI shown. The first review
    puts the case in review; once every image has its readings, the case is
    reviewed or goes to adjudication. Raises InvalidInput for a label outside
    the task's classes, TransitionNotAllowed (with the reason) for a case that
    is final or cannot be reviewed yet, or an image this reader has read or
    that has all its readings.
    """
    case = locked_case_of(image=image, case=case)
    policy = reading_policy(task=case.task)
    reading = next((r for r in case_readings(case=case) if r.image_id == image.pk), None)
    refusal = reading_refusal(case=case, reading=reading, reviewer=reviewer)
    if refusal is not None:
        raise TransitionNotAllowed(refusal)
    if not task_classes(case.task):
        raise InvalidInput("set the case's task before reviewing it")
    prediction, label = checked_label(image=image, task=case.task, label=label, non_diagnostic=non_diagnostic)
    had_blind = reading is not None and reading.blind_reading_of(reviewer) is not None
    ai_visible = prediction is not None and (had_blind or not policy.blind_first_reading)
    if non_diagnostic:
        decision = ReviewDecision.NON_DIAGNOSTIC
    elif prediction is None or not ai_visible or prediction.in_scope is False:
        # No AI class was shown (none, hidden by a blind reading, or outside the model's scope).
        decision = ReviewDecision.LABEL
    else:
        decision = ReviewDecision.CONFIRM if label == prediction.label else ReviewDecision.CORRECT
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
                ai_untrained=bool(prediction and prediction.untrained),
                ai_visible=ai_visible,
                prediction_ref=prediction.pk if prediction else None,
                **ai_provenance(prediction),
                **reading_time(opened_at),
            )
    except IntegrityError:
        raise TransitionNotAllowed("you have already reviewed this image") from None
    if case.status != CaseStatus.IN_REVIEW:
        case_set_status(case_id=case.pk, status=CaseStatus.IN_REVIEW)
    if not review.awaits_reveal:
        _finish_reading(case=case, reviewer=reviewer, audit=audit)
    audit_record(
        action="review.blind_reading" if review.awaits_reveal else "review.submitted",
        actor=reviewer,
        obj=review,
        site=case.site,
        audit=audit,
        detail={
            "case": case.pk,
            "image": image.pk,
            "decision": decision,
            "label": label,
            "ai_label": review.ai_label,
            "ai_visible": ai_visible,
        },
    )
    return review


def study_final_label(*, task: str, labels: Sequence[str]) -> str:
    """One label for the study from its images' final labels ("" for non-diagnostic).

    A positive finding on any image is the study's (the first in the task's
    class order); else the most common diagnostic label; else non-diagnostic.
    """
    order = task_classes(task)
    rank = {name: index for index, name in enumerate(order)}
    diagnostic = sorted((x for x in labels if x), key=lambda x: (rank.get(x, len(rank)), x))
    positive = [x for x in diagnostic if is_positive_finding(task, x)]
    if positive:
        return positive[0]
    if not diagnostic:
        return ""
    return max(diagnostic, key=diagnostic.count)


def case_set_final(*, case: Case, labels: Sequence[str]) -> None:
    """Store the case's final label (for the worklist) from its images' final labels."""
    Case.objects.filter(pk=case.pk).update(final_label=study_final_label(task=case.task, labels=labels))


def final_label(reading: ImageReading, *, adjudicated: str | None = None) -> dict[str, Any]:
    """One image's final label as a case event carries it: the Curator's if adjudicated, else the latest reading's."""
    label = adjudicated if adjudicated is not None else (reading.reviews[-1].label if reading.reviews else "")
    return {
        "image": reading.image_id,
        "label": label,
        "non_diagnostic": label == "",
        "readers": len(reading.reviews),
        "adjudicated": adjudicated is not None,
    }


def _finish_reading(*, case: Case, reviewer: User, audit: AuditContext | None) -> None:
    """Once every image has its readings: reviewed if the readers agree, else off to adjudication."""
    readings = case_readings(case=case)
    if not all(r.complete for r in readings):
        return
    disputed = [r for r in readings if r.disagreement]
    if not disputed:
        case_set_final(case=case, labels=[final_label(r)["label"] for r in readings])
        case_set_status(case_id=case.pk, status=CaseStatus.REVIEWED, strict=True)
        case_event_send(
            event=REVIEW_COMPLETED,
            case_id=case.pk,
            detail={"images": [final_label(r) for r in readings]},
        )
        return
    case_set_status(case_id=case.pk, status=CaseStatus.ADJUDICATION, strict=True)
    audit_record(
        action="case.sent_to_adjudication",
        actor=reviewer,
        obj=case,
        site=case.site,
        audit=audit,
        detail={"images": {str(r.image_id): sorted(r.labels) for r in disputed}},
    )
