"""Reads of patient data, always scoped to what the user may see."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db.models import (
    CharField,
    Count,
    F,
    OrderBy,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    TextChoices,
)
from django.db.models.functions import Cast, Coalesce

from cases.models import (
    Adjudication,
    AuditEvent,
    Case,
    CaseStatus,
    Image,
    IntakeBatch,
    Review,
    ReviewPolicy,
    Series,
    Site,
    Study,
    User,
)
from cases.models.case import REVIEW_QUEUE_STATUSES, UNCERTAINTY_RANK, UNREAD_RANK
from cases.permissions import can_use_ui, sees_all_sites
from cases.services.review import case_readings


def case_list_for_user(*, user: User) -> QuerySet[Case]:
    """Cases the user may see: their site's, or all for Curators; none without a role."""
    qs = Case.objects.select_related("study", "study__patient", "site", "assignee")
    if not can_use_ui(user) and not user.has_perm("cases.use_api"):
        return qs.none()
    if sees_all_sites(user):
        return qs
    if user.site_id is None:
        return qs.none()
    return qs.filter(site_id=user.site_id)


class WorklistOrder(TextChoices):
    FINDINGS = "findings", "Findings first"
    UNCERTAINTY = "uncertainty", "Most uncertain first"
    NEWEST = "newest", "Newest first"
    WAITING = "waiting", "Longest waiting first"


# Priority always leads: a STAT case is read first whatever the AI says.
WORKLIST_ORDERINGS: dict[str, list[str | OrderBy]] = {
    # Cases still to be read first; among them AI-positive findings (tumour, malignancy)
    # first, then the most uncertain. A reviewed case no longer rises by its AI result.
    WorklistOrder.FINDINGS: [
        "-priority",
        UNREAD_RANK.desc(),
        F("ai_positive").desc(),
        UNCERTAINTY_RANK.desc(),
        "-created_at",
        "-pk",
    ],
    # Active learning: what the model is least sure of, whatever its label.
    WorklistOrder.UNCERTAINTY: [UNCERTAINTY_RANK.desc(), "-created_at", "-pk"],
    WorklistOrder.NEWEST: ["-priority", "-created_at", "-pk"],
    WorklistOrder.WAITING: ["-priority", "created_at", "pk"],
}


def worklist_for_user(*, user: User, order: str = WorklistOrder.FINDINGS) -> QuerySet[Case]:
    """The worklist's cases the user may see, in the chosen order (paginate its ``pk`` values).

    The AI summary (label, confidence, uncertainty, positive) lives on the case
    row, so sorting and filtering on it cost no joins, and the main orders have
    matching indexes. Pages are cut from the ids alone and the rows fetched by
    ``worklist_rows``: a deep OFFSET then skips narrow index entries instead of
    sorting 10,000 joined rows.
    """
    # The imported base data (settings.BASE_DATA_SITE) is labelled already: no one reads it.
    base_sites = Site.objects.filter(code=settings.BASE_DATA_SITE).values("pk")
    return (
        case_list_for_user(user=user)
        .exclude(site_id__in=base_sites)
        .order_by(*WORKLIST_ORDERINGS.get(order, WORKLIST_ORDERINGS[WorklistOrder.FINDINGS]))
    )


def worklist_rows(*, user: User, case_ids: Sequence[int]) -> list[Case]:
    """One page of worklist rows, in the order of ``case_ids``, with image count and key image id, in one query.

    The key image is the study result's (``Case.ai_key_image``, the most
    suspicious image); before any result, the first instance of the first series.
    """
    first_image = (
        Image.objects.filter(case_id=OuterRef("pk"))
        .order_by("series_id", "instance_number", "pk")
        .values("pk")[:1]
    )
    image_count = (
        Image.objects.filter(case_id=OuterRef("pk"))
        .order_by()
        .values("case_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = case_list_for_user(user=user).filter(pk__in=case_ids)
    found = {
        case.pk: case
        for case in rows.annotate(
            image_count=Subquery(image_count),
            key_image_id=Coalesce(F("ai_key_image_id"), Subquery(first_image)),
        )
    }
    return [found[pk] for pk in case_ids if pk in found]


def blind_reading_tasks(*, user: User) -> set[str]:
    """The tasks whose AI result this reader must not see before reading (blind first reading)."""
    if not user.has_perm("cases.review_case"):
        return set()
    return set(ReviewPolicy.objects.filter(blind_first_reading=True).values_list("task", flat=True))


def newest_case_id(cases: QuerySet[Case]) -> int | None:
    """The highest case id among ``cases`` (an open worklist asks for those after it)."""
    return cases.order_by("-pk").values_list("pk", flat=True).first()


def case_statuses_for_user(*, user: User, case_ids: list[int]) -> QuerySet[Case]:
    """The live fields of some worklist rows (status and AI summary), for polling."""
    return (
        case_list_for_user(user=user)
        .filter(pk__in=case_ids)
        .only(
            "pk",
            "status",
            "ai_label",
            "ai_confidence",
            "ai_uncertainty",
            "ai_positive",
            "ai_untrained",
            "ai_key_image",
            "ai_images",
            "final_label",
            "task",
            "ai_out_of_scope",
            "site",
        )
        .select_related(None)
        .order_by("pk")
    )


def adjudication_queue_for_user(*, user: User) -> QuerySet[Case]:
    """Cases whose readers disagreed, oldest decision-wait first, with their readings (Curators only)."""
    if not user.has_perm("cases.adjudicate_case"):
        return Case.objects.none()
    return (
        case_list_for_user(user=user)
        .filter(status=CaseStatus.ADJUDICATION)
        .annotate(
            image_count=Subquery(
                Image.objects.filter(case_id=OuterRef("pk"))
                .order_by()
                .values("case_id")
                .annotate(n=Count("pk"))
                .values("n")
            )
        )
        .prefetch_related(
            Prefetch(
                "reviews", queryset=Review.objects.select_related("reviewer").order_by("image_id", "pk")
            ),
            # Which disputed images are decided already (a case can have several).
            Prefetch("adjudications", queryset=Adjudication.objects.only("pk", "case_id", "image_id")),
        )
        .order_by("-priority", "status_changed_at", "pk")
    )


def case_reviews_for_user(*, user: User, case: Case) -> QuerySet[Review]:
    """The case's readings this user may see, newest first, as the case page shows them.

    In a blinded double read, an image's readings stay hidden from a reader
    who has not read it yet until it has all its readings.
    """
    hidden = [r.image_id for r in case_readings(case=case) if r.hidden_from(user)]
    return (
        Review.objects.filter(case=case)
        .exclude(image_id__in=hidden)
        .select_related("reviewer")
        .order_by("-submitted_at", "-pk")
    )


def case_series(*, case: Case) -> QuerySet[Series]:
    """The case's series with images and their predictions (newest last), headers left out."""
    return (
        Series.objects.filter(study_id=case.study_id)
        .prefetch_related(
            # Headers can be large and the page shows one: it loads on access.
            Prefetch(
                "images",
                queryset=Image.objects.defer("header")
                .select_related("adjudication__curator")
                .prefetch_related("predictions__model_version", "reviews__reviewer"),
            )
        )
        .order_by("series_number", "pk")
    )


def study_list_for_user(*, user: User) -> QuerySet[Study]:
    """Studies whose case the user may see, with patient, site, case and series → image ids, in 4 queries a page."""
    return (
        Study.objects.filter(case__in=case_list_for_user(user=user).values("pk"))
        .select_related("patient", "site", "case")
        .prefetch_related(
            Prefetch(
                "series",
                queryset=Series.objects.order_by("series_number", "pk").prefetch_related(
                    # Ids and instance numbers only: headers and file names stay in the database.
                    Prefetch(
                        "images",
                        queryset=Image.objects.only("pk", "series_id", "instance_number").order_by(
                            "instance_number", "pk"
                        ),
                    )
                ),
            )
        )
    )


def image_for_user(*, user: User, image_id: int) -> Image:
    """One image the user may see; raises Image.DoesNotExist otherwise (views turn that into 404)."""
    return Image.objects.select_related("case").get(
        pk=image_id, case__in=case_list_for_user(user=user).values("pk")
    )


def intake_batch_for_user(*, user: User, batch_id: str) -> IntakeBatch:
    qs = IntakeBatch.objects.all()
    if not sees_all_sites(user):
        qs = qs.filter(uploaded_by=user)
    return qs.get(pk=batch_id)


def next_case_for_review(*, user: User, after: Case | None = None) -> int | None:
    """Id of the next case waiting for this reader: predicted or in review, not yet read by them, most urgent first.

    Only the id: the partial index ``case_review_queue_*`` answers it without
    reading or sorting the rows.
    """
    qs = (
        case_list_for_user(user=user)
        .filter(status__in=REVIEW_QUEUE_STATUSES)
        .exclude(reviews__reviewer=user)
        .order_by("-priority", "created_at", "pk")
    )
    if after is not None:
        qs = qs.exclude(pk=after.pk)
    return qs.values_list("pk", flat=True).first()


# Predictions live in `inference`, which `cases` does not import: its audit label, and the reverse
# relation from Image (related_name="predictions"), name them.
PREDICTION_OBJECT_TYPE = "inference.prediction"
# Likewise the results app's objects sent back to the PACS and their deliveries (the case's exports).
RESULT_OBJECT_TYPE = "results.resultobject"
RESULT_DELIVERY_TYPE = "results.resultdelivery"


def audit_trail_for_case(*, case: Case) -> QuerySet[AuditEvent]:
    """The case's audit trail, oldest first: events about the case and its images, reviews,
    predictions, adjudications, and the result objects sent back and their deliveries.

    ``audit_record`` names each event's object by type and id (as text); one
    query matches those pairs (the ``object_type, object_id`` index) against
    the ids of the case's own rows, read in subqueries.
    """

    def ids(rows: QuerySet[Any], field: str = "pk") -> QuerySet[Any]:
        return rows.annotate(audit_object_id=Cast(field, output_field=CharField())).values("audit_object_id")

    images = Image.objects.filter(case=case)
    this = Case.objects.filter(pk=case.pk)
    about = (
        Q(object_type=Case._meta.label_lower, object_id=str(case.pk))
        | Q(object_type=Image._meta.label_lower, object_id__in=ids(images))
        | Q(object_type=Review._meta.label_lower, object_id__in=ids(Review.objects.filter(case=case)))
        | Q(
            object_type=Adjudication._meta.label_lower,
            object_id__in=ids(Adjudication.objects.filter(case=case)),
        )
        | Q(
            object_type=PREDICTION_OBJECT_TYPE,
            object_id__in=ids(images.filter(predictions__isnull=False), "predictions__pk"),
        )
        | Q(
            object_type=RESULT_OBJECT_TYPE,
            object_id__in=ids(this.filter(result_objects__isnull=False), "result_objects__pk"),
        )
        | Q(
            object_type=RESULT_DELIVERY_TYPE,
            object_id__in=ids(
                this.filter(result_objects__deliveries__isnull=False), "result_objects__deliveries__pk"
            ),
        )
    )
    return AuditEvent.objects.filter(about).order_by("at", "pk")
