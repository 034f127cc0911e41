"""Reads of the "label these next" queue (active learning, docs/active-learning.md).

The candidates are unreviewed cases the user may see (``case_list_for_user``,
the imported base data left out) that wait for a reader (predicted or in
review) and have a finished prediction. Each image brings its newest finished
prediction of the case's task and, for the Curator's queue, the newest
finished shadow result of another model; ``oncocore.active_learning`` ranks
them. The whole queue costs two queries (predictions, shadow results) however
many cases wait, and a page of rows one more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, F, OuterRef, QuerySet, Subquery

from cases.models import Case, Image, Site, User
from cases.models.case import REVIEW_QUEUE_STATUSES
from cases.selectors import case_list_for_user
from inference.models import Prediction, ResultStatus
from lifecycle.models import ShadowPrediction
from oncocore.active_learning import ImageResult, Member, Queue, Strategy, rank_cases


@dataclass(frozen=True)
class QueueFilters:
    """What the queue is asked for: a task ("" for every task) and a strategy."""

    task: str = ""
    strategy: Strategy = Strategy.COMBINED


def _waiting_cases(*, user: User, task: str = "", reader: bool = False) -> QuerySet[Case]:
    """Unreviewed cases the user may see that wait for a reader (base data left out)."""
    base_sites = Site.objects.filter(code=settings.BASE_DATA_SITE).values("pk")
    cases = (
        case_list_for_user(user=user).exclude(site_id__in=base_sites).filter(status__in=REVIEW_QUEUE_STATUSES)
    )
    if task:
        cases = cases.filter(task=task)
    if reader:
        cases = cases.exclude(reviews__reviewer=user)
    return cases


def label_next_candidates(*, user: User, task: str = "", reader: bool = False) -> QuerySet[Case]:
    """Unreviewed cases the user may see that wait for a reader and have a finished prediction.

    ``reader``: the reader's own queue, which leaves out the cases this reader has read already.
    """
    done = Prediction.objects.filter(image__case_id=OuterRef("pk"), status=ResultStatus.DONE)
    return _waiting_cases(user=user, task=task, reader=reader).filter(Exists(done))


def _members(rows: Any) -> list[Member]:
    members = []
    for row in rows or []:
        if isinstance(row, dict) and isinstance(row.get("probabilities"), dict):
            members.append(Member(probabilities=row["probabilities"], weight=float(row.get("weight") or 1.0)))
    return members


def _challengers(cases: QuerySet[Case]) -> dict[int, tuple[int, dict[str, float]]]:
    """Image id -> (model version id, probabilities) of its newest finished shadow result of the case's task."""
    rows = (
        ShadowPrediction.objects.filter(
            status=ResultStatus.DONE,
            image__case__in=cases.values("pk"),
            deployment__task=F("image__case__task"),
        )
        .order_by("image_id", "pk")
        .values_list("image_id", "model_version_id", "probabilities")
    )
    # Ordered by pk: the last one per image is the newest.
    return {image_id: (version_id, probs) for image_id, version_id, probs in rows}


def label_next_queue(
    *, user: User, filters: QueueFilters, reader: bool = False, with_shadow: bool | None = None
) -> Queue:
    """The ranked queue for this user (two queries).

    ``with_shadow`` (default: not for a reader's queue) lets shadow results
    count: readers never see shadow results, nor an order made from them.
    """
    if with_shadow is None:
        with_shadow = not reader
    # The cases without a finished prediction simply bring no rows: no Exists() needed here.
    cases = _waiting_cases(user=user, task=filters.task, reader=reader)
    rows = (
        Prediction.objects.filter(
            status=ResultStatus.DONE,
            image__case__in=cases.values("pk"),
            # A result of the case's task: one from before a task change is stale.
            model_version__task=F("image__case__task"),
        )
        # Per image oldest to newest: the last row of an image is its newest result.
        .order_by("image__case_id", "image_id", "pk")
        .values_list(
            "image_id",
            "model_version_id",
            "image__case_id",
            "image__case__created_at",
            "probabilities",
            "uncertainty",
            "members",
            "disagreement",
            "in_scope",
        )
    )
    challengers = _challengers(cases) if with_shadow else {}
    results: dict[int, ImageResult] = {}
    for image_id, lead_id, case_id, created, probs, uncertainty, members_json, disagreement, in_scope in rows:
        members = _members(members_json)
        challenger = challengers.get(image_id)
        # A shadow result of the champion itself (or one of its members) is no second opinion.
        member_ids = {lead_id} | {
            row.get("version_id") for row in members_json or [] if isinstance(row, dict)
        }
        results[image_id] = ImageResult(
            image_id=image_id,
            case_id=case_id,
            case_created=created,
            probabilities=probs or {},
            uncertainty=uncertainty,
            members=members,
            stored_disagreement=disagreement,
            in_scope=in_scope,
            challenger=challenger[1] if challenger and challenger[0] not in member_ids else None,
        )
    return rank_cases(results.values(), filters.strategy)


def label_next_rows(*, user: User, case_ids: Sequence[int]) -> list[Case]:
    """One page of queue rows in the order of ``case_ids``, with image count and first image id (one query).

    The first image (study order) is the thumbnail shown where the AI's choice of image must stay hidden.
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
    found = {
        case.pk: case
        for case in case_list_for_user(user=user)
        .filter(pk__in=case_ids)
        .annotate(image_count=Subquery(image_count), first_image_id=Subquery(first_image))
    }
    return [found[pk] for pk in case_ids if pk in found]
