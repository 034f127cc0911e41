"""Reads of labelled examples for Curators: filters, counts, and the choices the filter form offers."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from django.db.models import Count, Q, QuerySet

from cases.models import Site, User
from curation.models import Example


def can_curate(user: User) -> bool:
    """Curators and superusers: the Curator page, its actions and the examples' reads."""
    return bool(user.is_authenticated and user.has_perm("curation.curate_dataset"))


@dataclass(frozen=True, kw_only=True)
class ExampleFilters:
    """What the Curator page and the admin filter labelled examples by; None (or '') means any.

    ``label`` '' is "any"; ask for the non-diagnostic ones by provenance.
    ``labelled_to`` is inclusive (the whole day).
    """

    task: str = ""
    label: str = ""
    provenance: str = ""
    disagreement: bool | None = None
    model_version: str = ""
    site: int | None = None
    labelled_from: date | None = None
    labelled_to: date | None = None
    included: bool | None = None

    def q(self) -> Q:
        conditions = Q()
        for name in ("task", "label", "provenance", "model_version"):
            if value := getattr(self, name):
                conditions &= Q(**{name: value})
        if self.site is not None:
            conditions &= Q(site_id=self.site)
        if self.disagreement is not None:
            conditions &= Q(disagreement=self.disagreement)
        if self.included is not None:
            conditions &= Q(included=self.included)
        if self.labelled_from is not None:
            conditions &= Q(labelled_at__date__gte=self.labelled_from)
        if self.labelled_to is not None:
            conditions &= Q(labelled_at__date__lte=self.labelled_to)
        return conditions

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) not in (None, "") for f in fields(self))


def example_list(*, filters: ExampleFilters | None = None) -> QuerySet[Example]:
    """Labelled examples (newest label first) matching the filters, with image, case and site joined."""
    qs = Example.objects.select_related("image", "case", "site", "curated_by")
    return qs.filter(filters.q()) if filters is not None else qs


def example_list_for_user(*, user: User, filters: ExampleFilters | None = None) -> QuerySet[Example]:
    """:func:`example_list` for a Curator (every site); none for anyone else."""
    if not can_curate(user):
        return Example.objects.none()
    return example_list(filters=filters)


def example_counts(*, examples: QuerySet[Example]) -> dict[str, Any]:
    """Counts of a filtered set: total, included, per final label and per provenance (label '' = non-diagnostic)."""
    base = examples.order_by()
    totals = base.aggregate(total=Count("pk"), included=Count("pk", filter=Q(included=True)))
    by_label = {
        row["label"]: {"total": row["n"], "included": row["inc"]}
        for row in base.values("label")
        .annotate(n=Count("pk"), inc=Count("pk", filter=Q(included=True)))
        .order_by("label")
    }
    by_provenance = {
        row["provenance"]: row["n"]
        for row in base.values("provenance").annotate(n=Count("pk")).order_by("provenance")
    }
    return {
        "total": totals["total"],
        "included": totals["included"],
        "by_label": by_label,
        "by_provenance": by_provenance,
    }


def example_filter_choices() -> dict[str, list[Any]]:
    """The values present in the data, for the filter form: tasks, labels, model versions and sites."""
    distinct = Example.objects.order_by()
    return {
        "tasks": sorted(distinct.values_list("task", flat=True).distinct()),
        "labels": sorted(distinct.exclude(label="").values_list("label", flat=True).distinct()),
        "model_versions": sorted(
            distinct.exclude(model_version="").values_list("model_version", flat=True).distinct()
        ),
        "sites": list(Site.objects.filter(examples__isnull=False).distinct().order_by("name")),
    }
