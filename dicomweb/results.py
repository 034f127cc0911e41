"""The platform's result objects (overlay Secondary Captures, AI and review SRs) as part of their study.

QIDO-RS lists them after the study's own series and instances (Modality OT
or SR, Series Description "OncoPortal AI result..."); WADO-RS retrieves them
and their metadata like any instance. They are served as stored,
de-identified: only a sender to a PACS re-identifies them. Scoped like
images: the case's site. A page costs a constant number of extra queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydicom
from django.core.files.storage import default_storage
from django.db.models import Case, CharField, Count, IntegerField, Min, QuerySet, Value, When
from django.http import Http404

from cases.models import Image, Series, Study, User
from cases.selectors import case_list_for_user
from dicomweb import qido, wado
from oncocore.dicom_results import (
    AI_SR_SERIES_DESCRIPTION,
    REVIEW_SR_SERIES_DESCRIPTION,
    SC_SERIES_DESCRIPTION,
)
from results.models import ResultKind, ResultObject

MODALITY: dict[str, str] = {ResultKind.SALIENCY_SC: "OT", ResultKind.AI_SR: "SR", ResultKind.REVIEW_SR: "SR"}
DESCRIPTION: dict[str, str] = {
    ResultKind.SALIENCY_SC: SC_SERIES_DESCRIPTION,
    ResultKind.AI_SR: AI_SR_SERIES_DESCRIPTION,
    ResultKind.REVIEW_SR: REVIEW_SR_SERIES_DESCRIPTION,
}
STORED_SYNTAX = wado.EXPLICIT_LE  # the builders write every object Explicit VR Little Endian


def _by_kind(values: dict[str, Any], output: Any) -> Case:
    return Case(
        *[When(kind=k, then=Value(v)) for k, v in values.items()], default=Value(None), output_field=output
    )


def visible_results(*, user: User) -> QuerySet[ResultObject]:
    """The result objects of the cases the user may see, with their QIDO columns annotated."""
    return ResultObject.objects.filter(case__in=case_list_for_user(user=user).values("pk")).annotate(
        modality=_by_kind(MODALITY, CharField()),
        description=_by_kind(DESCRIPTION, CharField()),
        body_part=Value("", output_field=CharField()),
        frames=_by_kind({ResultKind.SALIENCY_SC: 1}, IntegerField()),
        rows=Value(None, output_field=IntegerField()),
        cols=Value(None, output_field=IntegerField()),
    )


# --- WADO-RS --------------------------------------------------------------------------------


def for_retrieve(
    *, user: User, study: str, series: str | None = None, instance: str | None = None
) -> tuple[QuerySet[Image], list[ResultObject]]:
    """The study's images and result objects for a retrieve; 404 only when neither has any."""
    images = wado.instances_for_user(
        user=user, study=study, series=series, instance=instance, missing_ok=True
    )
    results = ResultObject.objects.filter(
        case__in=case_list_for_user(user=user).values("pk"), study_instance_uid=study
    )
    if series is not None:
        results = results.filter(series_instance_uid=series)
    if instance is not None:
        results = results.filter(sop_instance_uid=instance)
    found = list(results.order_by("series_number", "series_instance_uid", "instance_number", "pk"))
    if not found and not images.exists():
        raise Http404("No such study, series or instance.")
    return images, found


def parts(rows: Sequence[ResultObject]) -> Iterator[tuple[str, Callable[[], Iterator[bytes]]]]:
    for row in rows:
        yield f'{wado.DICOM}; transfer-syntax="{STORED_SYNTAX}"', wado.file_chunks(row.file.name)


def metadata_of(row: ResultObject) -> dict[str, Any]:
    """A result object in the DICOM JSON Model: its stored dataset (an overlay's pixels left out)."""
    with default_storage.open(row.file.name, "rb") as handle:
        ds = pydicom.dcmread(handle, stop_before_pixels=True)
    return dict(sorted(ds.to_json_dict(suppress_invalid_tags=True).items()))


# --- QIDO-RS --------------------------------------------------------------------------------


@dataclass
class ResultSeries:
    """One series of result objects, shaped like a Series row for ``qido.dataset_of``."""

    study: Study
    series_instance_uid: str
    series_number: int | None
    modality: str
    description: str
    qido_instances: int
    body_part: str = ""
    qido_study_series: int | None = None
    qido_study_instances: int | None = None


@dataclass
class ResultInstance:
    """One result object, shaped like an Image row for ``qido.dataset_of``."""

    series: ResultSeries
    sop_class_uid: str
    sop_instance_uid: str
    instance_number: int | None
    frames: int | None
    rows: None = None
    cols: None = None
    header: dict[str, Any] = field(default_factory=dict)
    qido_study_series: int | None = None
    qido_study_instances: int | None = None


def _matching(
    *, user: User, search: qido.Search, study_uid: str | None, series_uid: str | None
) -> QuerySet[Any]:
    qs = visible_results(user=user)
    if study_uid is not None:
        qs = qs.filter(study_instance_uid=study_uid)
    if series_uid is not None:
        qs = qs.filter(series_instance_uid=series_uid)
    for key, values in search.filters:
        prefix = "case__study__" if key.level == "study" else ""
        condition = qido.key_condition(key, values, prefix, "case__study_id")
        if condition is not None:
            qs = qs.filter(condition)
    return qs


def extend_page(
    *,
    user: User,
    search: qido.Search,
    rows: list[Any],
    more: bool,
    study_uid: str | None = None,
    series_uid: str | None = None,
) -> tuple[list[Any], bool]:
    """A series or instance page with the matching result objects after the study's own rows.

    The images come first in every listing; result rows fill what is left of
    the page (``offset`` counts both), so paging walks through all of them.
    """
    if search.level == "study" or more:
        return rows, more
    images_total = (
        search.offset + len(rows)
        if rows
        else qido.match_count(user=user, search=search, study_uid=study_uid, series_uid=series_uid)
    )
    skip = max(0, search.offset - images_total)
    room = search.limit - len(rows)
    matching = _matching(user=user, search=search, study_uid=study_uid, series_uid=series_uid)
    if search.level == "series":
        groups = list(
            matching.values("series_instance_uid", "case__study_id")
            .annotate(n=Count("pk"), number=Min("series_number"), kind=Min("kind"))
            .order_by("-case__study_id", "number", "series_instance_uid")[skip : skip + room + 1]
        )
        studies = Study.objects.select_related("patient").in_bulk({g["case__study_id"] for g in groups})
        found: list[Any] = [
            ResultSeries(
                study=studies[g["case__study_id"]],
                series_instance_uid=g["series_instance_uid"],
                series_number=g["number"],
                modality=MODALITY[g["kind"]],
                description=DESCRIPTION[g["kind"]],
                qido_instances=g["n"],
            )
            for g in groups
        ]
    else:
        objects = list(
            matching.select_related("case__study__patient").order_by(
                "-case__study_id", "series_number", "series_instance_uid", "instance_number", "pk"
            )[skip : skip + room + 1]
        )
        found = [
            ResultInstance(
                series=ResultSeries(
                    study=o.case.study,
                    series_instance_uid=o.series_instance_uid,
                    series_number=o.series_number,
                    modality=o.modality,
                    description=o.description,
                    qido_instances=0,
                ),
                sop_class_uid=o.sop_class_uid,
                sop_instance_uid=o.sop_instance_uid,
                instance_number=o.instance_number,
                frames=o.frames,
            )
            for o in objects
        ]
    return rows + found[:room], len(found) > room


def study_of(row: Any, level: qido.Level) -> Any:
    if level == "study":
        return row
    if level == "series":
        return row.study
    return row.series.study


def count_into(rows: Iterable[Any], level: qido.Level) -> None:
    """Number of Study Related Series/Instances counting the result objects too (three queries a page)."""
    rows = list(rows)
    ids = {study_of(r, level).pk for r in rows}
    if not ids:
        return
    series = dict(
        Series.objects.filter(study_id__in=ids)
        .order_by()
        .values("study_id")
        .annotate(n=Count("pk"))
        .values_list("study_id", "n")
    )
    images = dict(
        Image.objects.filter(series__study_id__in=ids)
        .order_by()
        .values("series__study_id")
        .annotate(n=Count("pk"))
        .values_list("series__study_id", "n")
    )
    results: dict[int, tuple[int, int]] = {}
    for study_id, n_series, n_objects in (
        ResultObject.objects.filter(case__study_id__in=ids)
        .order_by()
        .values("case__study_id")
        .annotate(s=Count("series_instance_uid", distinct=True), n=Count("pk"))
        .values_list("case__study_id", "s", "n")
    ):
        results[study_id] = (n_series, n_objects)
    for row in rows:
        pk = study_of(row, level).pk
        extra_series, extra_objects = results.get(pk, (0, 0))
        row.qido_study_series = series.get(pk, 0) + extra_series
        row.qido_study_instances = images.get(pk, 0) + extra_objects


def modalities_into(modalities: dict[int, list[str]], study_ids: Iterable[int]) -> None:
    """Add OT/SR to Modalities in Study where a study has result objects (one query)."""
    found: dict[int, set[str]] = defaultdict(set)
    for study_id, kind in (
        ResultObject.objects.filter(case__study_id__in=list(study_ids))
        .values_list("case__study_id", "kind")
        .distinct()
    ):
        found[study_id].add(MODALITY[kind])
    for study_id, extra in found.items():
        modalities[study_id] = sorted(set(modalities.get(study_id, [])) | extra)
