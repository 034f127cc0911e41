"""The case page's review panel: per image, what the AI said (unless a blind reading hides it),
who read it, the final label once there is one, and the reader's (or Curator's) form."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cases.models import Case, CaseStatus, Image, User
from cases.services.review import REVIEWABLE, ImageReading, Policy, review_class_names
from cases.task_registry import task_get


@dataclass
class FinalReading:
    """An image's final label and who decided it: the Curator, or the readers who agreed."""

    label: str  # "" non-diagnostic
    by: list[str]
    adjudicated: bool
    at: Any  # datetime


@dataclass
class ReviewRow:
    """One image in the review panel: what the AI said, who read it, and the reader's (or Curator's) form."""

    image: Image
    classes: list[tuple[int, str, str]]  # (shortcut digit, class name, readable name)
    ai_label: str  # "" while hidden from a blind reader
    reviews: list[Any]  # empty while a blinded double read hides them from this user
    mine: Any | None  # this user's reading that counts
    my_blind: Any | None  # this user's blind first reading (the AI was not shown)
    hidden_readings: int  # readings done by others that this user may not see yet
    readers_required: int
    disputed: bool  # two readers disagreed
    adjudication: Any | None
    can_adjudicate: bool
    final: FinalReading | None  # the label stands: no form is offered
    can_read: bool  # the reading form is offered to this user


def ai_hidden_for(*, case: Case, images: list[Image], user: User, policy: Policy) -> bool:
    """Under the task's blind first reading, the AI result stays hidden from a reader until they
    have made a reading of every image of the case they may still read."""
    if not policy.blind_first_reading or not user.has_perm("cases.review_case"):
        return False
    if case.status not in REVIEWABLE:
        return False
    for image in images:
        reading = ImageReading(
            image_id=image.pk, required=policy.readers_required, reviews=list(image.reviews.all())
        )
        if reading.complete or reading.read_by(user):
            continue
        if reading.blind_reading_of(user) is None:
            return True
    return False


def _final(reading: ImageReading, adjudication: Any | None, *, case: Case) -> FinalReading | None:
    if adjudication is not None:
        return FinalReading(
            adjudication.label, [adjudication.curator.get_username()], True, adjudication.decided_at
        )
    if reading.disagreement or not reading.reviews:
        return None
    if not reading.complete and case.status != CaseStatus.REVIEWED:
        return None
    last = reading.reviews[-1]
    return FinalReading(
        last.label, [r.reviewer.get_username() for r in reading.reviews], False, last.submitted_at
    )


def review_rows(
    images: list[Image], *, case: Case, user: User, policy: Policy, ai_hidden: bool, can_review: bool
) -> list[ReviewRow]:
    spec = task_get(case.task)
    adjudicator = user.has_perm("cases.adjudicate_case") and case.status == CaseStatus.ADJUDICATION
    rows = []
    for image in images:
        done = [p for p in image.predictions.all() if p.status == "done"]
        shown = done[-1] if done else None  # prefetched oldest first: the newest is last
        reading = ImageReading(
            image_id=image.pk, required=policy.readers_required, reviews=list(image.reviews.all())
        )
        hidden = reading.hidden_from(user)
        adjudication = getattr(image, "adjudication", None)
        mine = next((r for r in reading.reviews if r.reviewer_id == user.pk), None)
        final = None if hidden else _final(reading, adjudication, case=case)
        rows.append(
            ReviewRow(
                image=image,
                classes=[
                    (digit, name, spec.class_label(name) if spec is not None else name)
                    for digit, name in enumerate(
                        review_class_names(prediction=shown, task=case.task), start=1
                    )
                ],
                ai_label="" if ai_hidden or shown is None else shown.label,
                reviews=[] if hidden else reading.reviews,
                mine=mine,
                my_blind=reading.blind_reading_of(user),
                hidden_readings=len(reading.reviews) if hidden else 0,
                readers_required=policy.readers_required,
                disputed=reading.disagreement,
                adjudication=adjudication,
                can_adjudicate=adjudicator
                and reading.disagreement
                and adjudication is None
                and all(r.reviewer_id != user.pk for r in reading.reviews),
                final=final,
                can_read=can_review and mine is None and final is None and not reading.complete,
            )
        )
    return rows
