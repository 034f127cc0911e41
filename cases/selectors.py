"""Reads of patient data, always scoped to what the user may see."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery

from cases.models import Case, CaseStatus, Image, IntakeBatch, Series, User
from cases.permissions import can_use_ui, sees_all_sites


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


def worklist_for_user(*, user: User) -> QuerySet[Case]:
    """The worklist rows with image count and key image id, in one query, newest urgent first."""
    # The key image is the first instance of the first series; a correlated
    # subquery brings its id with the row, so thumbnails cost no extra query.
    key_image = (
        Image.objects.filter(case_id=OuterRef("pk")).order_by("series_id", "instance_number", "pk").values("pk")[:1]
    )
    # The newest finished prediction of the case, reached through the images'
    # reverse relation (cases does not import inference).
    latest = Image.objects.filter(case_id=OuterRef("pk"), predictions__status="done").order_by("-predictions__pk")
    return (
        case_list_for_user(user=user)
        .annotate(
            image_count=Count("images"),
            key_image_id=Subquery(key_image),
            ai_label=Subquery(latest.values("predictions__label")[:1]),
            ai_confidence=Subquery(latest.values("predictions__confidence")[:1]),
            ai_uncertainty=Subquery(latest.values("predictions__uncertainty")[:1]),
            ai_untrained=Subquery(latest.values("predictions__untrained")[:1]),
        )
        # Explicit: Meta.ordering is dropped from GROUP BY queries, and the pk
        # tie-break keeps pages stable.
        .order_by("-priority", "-created_at", "-pk")
    )


def case_series(*, case: Case) -> QuerySet[Series]:
    """The case's series with images and their predictions (newest last), headers left out."""
    return (
        Series.objects.filter(study_id=case.study_id)
        .prefetch_related(
            # Headers can be large and the page shows one: it loads on access.
            Prefetch(
                "images",
                queryset=Image.objects.defer("header").prefetch_related(
                    "predictions__model_version", "reviews__reviewer"
                ),
            )
        )
        .order_by("series_number", "pk")
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


def next_case_for_review(*, user: User, after: Case | None = None) -> Case | None:
    """The next case waiting for this reader: predicted or in review, not yet read by them, most urgent first."""
    qs = (
        case_list_for_user(user=user)
        .filter(status__in=[CaseStatus.PREDICTED, CaseStatus.IN_REVIEW])
        .exclude(reviews__reviewer=user)
        .order_by("-priority", "created_at", "pk")
    )
    if after is not None:
        qs = qs.exclude(pk=after.pk)
    return qs.first()
