"""Reads behind the analytics page: the rows ``oncocore.analytics`` turns into figures, scoped to the user's cases.

A handful of queries whatever the number of reviews (no per-row queries):
the final labels with the AI label their readers saw, the double reads, and
each case's milestones. What counts is defined in docs/analytics.md.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import F, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from cases.models import Case, Review, Site, User
from cases.selectors import case_list_for_user
from curation.models import Example, Provenance
from inference.models import Prediction

#: The default date range: this many weeks back to today.
DEFAULT_WEEKS = 12

# A blind first reading waiting for its reader's reading with the AI shown (Review.awaits_reveal):
# kept, but it is not the reader's final reading.
AWAITS_REVEAL = Q(ai_visible=False, prediction_ref__isnull=False)


class Outcome:
    """What one image with a final label contributes: a cell of the matrix, or one of the separate counts."""

    MATRIX = "matrix"
    NON_DIAGNOSTIC = "non_diagnostic"  # the final label is non-diagnostic: no truth to compare with
    NO_AI = "no_ai"  # the deciding readers were shown no AI result
    OUT_OF_SCOPE = "out_of_scope"  # the AI result shown gave no class (outside the model's scope)


@dataclass(frozen=True, kw_only=True)
class AnalyticsFilters:
    """One task, optionally one model version (the one the readers saw), and a date range (inclusive)."""

    task: str
    model_version: str = ""
    date_from: date
    date_to: date

    @classmethod
    def last_weeks(
        cls, *, task: str, model_version: str = "", weeks: int = DEFAULT_WEEKS
    ) -> AnalyticsFilters:
        today = timezone.localdate()
        return cls(
            task=task,
            model_version=model_version,
            date_from=today - timedelta(weeks=weeks, days=-1),
            date_to=today,
        )


@dataclass(frozen=True)
class ImageOutcome:
    """One image's final label and the AI label its deciding reader saw."""

    image_id: int
    case_id: int
    final_label: str
    ai_label: str
    model_version: str
    labelled_at: datetime
    outcome: str


@dataclass(frozen=True)
class DoubleRead:
    """The first two counted readings of one image by two readers, in the order they were made."""

    image_id: int
    first: str
    second: str
    read_at: datetime  # when the second reading was made


@dataclass(frozen=True)
class CaseMilestones:
    """When a case was uploaded, got its first AI result, its first reading and its final label."""

    case_id: int
    uploaded_at: datetime
    predicted_at: datetime | None
    first_read_at: datetime | None
    final_at: datetime | None


def analytics_cases(*, user: User) -> QuerySet[Case]:
    """The cases the user may see (their site's, or every site's for a Curator), less the imported base data."""
    base_sites = Site.objects.filter(code=settings.BASE_DATA_SITE).values("pk")
    return case_list_for_user(user=user).exclude(site_id__in=base_sites)


def _in_range(field: str, filters: AnalyticsFilters) -> Q:
    return Q(**{f"{field}__date__gte": filters.date_from, f"{field}__date__lte": filters.date_to})


def image_outcomes(*, user: User, filters: AnalyticsFilters) -> list[ImageOutcome]:
    """Every image of the task labelled (final) in the range, with the AI label its deciding reader saw.

    The final label is the labelled example's (curation.Example: the agreed
    readers' label, or the Curator's adjudication). The AI label is the one
    frozen on the image's first counted reading that was shown an AI result.
    Two queries.
    """
    examples = (
        Example.objects.filter(task=filters.task, case__in=analytics_cases(user=user).values("pk"))
        .exclude(provenance=Provenance.BASE)
        .filter(_in_range("labelled_at", filters))
    )
    rows = list(
        examples.order_by("labelled_at", "pk").values_list("image_id", "case_id", "label", "labelled_at")
    )
    shown: dict[int, tuple[str, str]] = {}
    readings = (
        Review.objects.filter(image_id__in=examples.values("image_id"), prediction_ref__isnull=False)
        .exclude(AWAITS_REVEAL)
        .order_by("submitted_at", "pk")
        .values_list("image_id", "ai_label", "ai_model_version")
    )
    for image_id, ai_label, version in readings:
        shown.setdefault(image_id, (ai_label, version))
    out = []
    for image_id, case_id, final, labelled_at in rows:
        ai_label, version = shown.get(image_id, ("", ""))
        if filters.model_version and version != filters.model_version:
            continue
        if final == "":
            outcome = Outcome.NON_DIAGNOSTIC
        elif image_id not in shown:
            outcome = Outcome.NO_AI
        elif ai_label == "":
            outcome = Outcome.OUT_OF_SCOPE
        else:
            outcome = Outcome.MATRIX
        out.append(ImageOutcome(image_id, case_id, final, ai_label, version, labelled_at, outcome))
    return out


def double_reads(*, user: User, filters: AnalyticsFilters) -> list[DoubleRead]:
    """Images of the task with two counted readings by two readers, the second made in the range. One query.

    Counted: not a blind first reading awaiting its reveal. An image waiting
    for adjudication counts too (its readings disagree; leaving it out would
    flatter the readers). Non-diagnostic ('') is a label like any other here.
    """
    in_range = Review.objects.filter(task=filters.task).filter(_in_range("submitted_at", filters))
    reviews = (
        Review.objects.filter(
            task=filters.task,
            case__in=analytics_cases(user=user).values("pk"),
            image_id__in=in_range.values("image_id"),
        )
        .exclude(AWAITS_REVEAL)
        .order_by("image_id", "submitted_at", "pk")
        .values_list("image_id", "reviewer_id", "label", "submitted_at")
    )
    by_image: dict[int, list[tuple[int, str, datetime]]] = defaultdict(list)
    for image_id, reviewer_id, label, submitted_at in reviews:
        readers = by_image[image_id]
        if len(readers) < 2 and all(r[0] != reviewer_id for r in readers):
            readers.append((reviewer_id, label, submitted_at))
    out = []
    for image_id, readers in by_image.items():
        if len(readers) == 2 and filters.date_from <= timezone.localdate(readers[1][2]) <= filters.date_to:
            out.append(DoubleRead(image_id, readers[0][1], readers[1][1], readers[1][2]))
    return out


def case_milestones(*, user: User, filters: AnalyticsFilters) -> list[CaseMilestones]:
    """Cases of the task uploaded in the range with their milestones, in one query (correlated subqueries).

    First AI result: the earliest finished prediction of any of its images.
    First reading: the earliest review (a blind first reading is a reading).
    Final label: the latest final label of its images (after adjudication).
    """
    first_result = (
        Prediction.objects.filter(image__case_id=OuterRef("pk"), status=Prediction.Status.DONE)
        .order_by()
        .values("image__case_id")
        .annotate(at=Min("finished_at"))
        .values("at")
    )
    first_reading = (
        Review.objects.filter(case_id=OuterRef("pk"))
        .order_by()
        .values("case_id")
        .annotate(at=Min("submitted_at"))
        .values("at")
    )
    final = (
        Example.objects.filter(case_id=OuterRef("pk"))
        .exclude(provenance=Provenance.BASE)
        .order_by()
        .values("case_id")
        .annotate(at=Max("labelled_at"))
        .values("at")
    )
    cases = (
        analytics_cases(user=user)
        .filter(task=filters.task)
        .filter(_in_range("created_at", filters))
        .annotate(
            predicted_at=Subquery(first_result),
            first_read_at=Subquery(first_reading),
            final_at=Subquery(final),
        )
        .order_by("created_at", "pk")
        .values_list("pk", "created_at", "predicted_at", "first_read_at", "final_at")
    )
    return [CaseMilestones(*row) for row in cases]


def analytics_model_versions(*, user: User, task: str) -> list[str]:
    """The model versions readers of this task were shown, for the filter (one query)."""
    reviews = Review.objects.filter(task=task, case__in=analytics_cases(user=user).values("pk"))
    return sorted(
        reviews.exclude(ai_model_version="").order_by().values_list("ai_model_version", flat=True).distinct()
    )


def analytics_default_task(*, user: User) -> str | None:
    """The task with the most recent final label the user may see (None: no final label yet)."""
    newest = (
        Example.objects.filter(case__in=analytics_cases(user=user).values("pk"))
        .exclude(provenance=Provenance.BASE)
        .order_by(F("labelled_at").desc())
        .values_list("task", flat=True)
        .first()
    )
    return newest
