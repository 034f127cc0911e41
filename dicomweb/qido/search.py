"""QIDO-RS requests: parsing the query parameters, matching, and the one query of a page."""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from cases.models import Image, Series, Study, User
from cases.selectors import case_list_for_user
from dicomweb.dicom_json import tag_of
from dicomweb.qido.keys import KEY_BY_TAG, LEVELS, Key, Level

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
NOT_FOUND = object()


class QueryError(ValueError):
    """A search the server cannot understand (400), with the reason."""


# From the queried model to each level's model.
_PREFIX: dict[Level, dict[Level, str]] = {
    "study": {"study": ""},
    "series": {"study": "study__", "series": ""},
    "instance": {"study": "series__study__", "series": "series__", "instance": ""},
}


@dataclass
class Search:
    """A parsed QIDO-RS request."""

    level: Level
    filters: list[tuple[Key, list[str]]] = field(default_factory=list)
    include: set[str] = field(default_factory=set)
    include_all: bool = False
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    warnings: list[str] = field(default_factory=list)

    def returned_levels(self, fixed: Iterable[Level]) -> list[Level]:
        """The levels whose attributes are returned: the queried one and those above it not fixed by the path."""
        upto = LEVELS[: LEVELS.index(self.level) + 1]
        return [lvl for lvl in upto if lvl == self.level or lvl not in set(fixed)]


CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}


def parse_search(level: Level, params: Any) -> Search:
    """``params``: a QueryDict (repeated keys allowed). Raises QueryError for what cannot be understood."""
    search = Search(level=level)
    search.limit = _int_param(params.get("limit"), "limit", default=DEFAULT_LIMIT, minimum=1)
    if search.limit > MAX_LIMIT:
        search.warnings.append(
            f"limit {search.limit} is over the maximum; {MAX_LIMIT} results at most are returned"
        )
        search.limit = MAX_LIMIT
    search.offset = _int_param(params.get("offset"), "offset", default=0, minimum=0)
    fuzzy = (params.get("fuzzymatching") or "false").lower()
    if fuzzy not in ("true", "false"):
        raise QueryError("fuzzymatching is true or false")
    if fuzzy == "true":
        search.warnings.append(
            "The fuzzymatching parameter is not supported. Only literal matching has been performed."
        )
    allowed = set(LEVELS[: LEVELS.index(level) + 1])
    for value in _split(params.getlist("includefield")):
        if value.lower() == "all":
            search.include_all = True
            continue
        tag = tag_of(value)
        if tag is None:
            raise QueryError(f"includefield: {value!r} is not a DICOM keyword or tag")
        search.include.add(tag)
    unsupported: list[str] = []
    for name in params:
        if name in CONTROL:
            continue
        tag = tag_of(name)
        if tag is None:
            raise QueryError(f"{name!r} is not a DICOM keyword, tag or QIDO-RS parameter")
        key = KEY_BY_TAG.get(tag)
        if key is None or key.match == "return" or key.level not in allowed:
            unsupported.append(name)
            continue
        values = [v for v in params.getlist(name)]
        search.filters.append((key, values))
        search.include.add(tag)
    if unsupported:
        search.warnings.append(
            f"The following attributes are not supported for matching and were ignored: {', '.join(unsupported)}"
        )
    return search


def _split(values: Iterable[str]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _int_param(raw: str | None, name: str, *, default: int, minimum: int) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise QueryError(f"{name} must be a whole number of at least {minimum}")
    return int(raw)


# --- matching ------------------------------------------------------------------------

_DATE = re.compile(r"^\d{8}$")


def _date(text: str, key: Key) -> datetime.date:
    if not _DATE.match(text):
        raise QueryError(f"{key.keyword}: {text!r} is not a date (YYYYMMDD)")
    try:
        return datetime.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        raise QueryError(f"{key.keyword}: {text!r} is not a date") from None


def _wildcard_regex(value: str) -> str:
    return "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value) + "$"


def key_condition(key: Key, values: list[str], prefix: str, study_pk: str) -> Q | None:
    """The Q for one matching key; None for universal matching (an empty value)."""
    path = prefix + key.field
    if key.match == "uid":
        uids = _split(values)
        return Q(**{f"{path}__in": uids}) if uids else None
    value = values[-1] if values else ""
    if value == "" or value == "*":
        return None
    if key.match == "none":
        return Q(pk__in=[])  # the platform keeps no value, so nothing matches one
    if key.match == "modalities":
        modalities = _split([value])
        return Q(Exists(Series.objects.filter(study_id=OuterRef(study_pk), modality__in=modalities)))
    if key.match == "date":
        if "-" in value:
            start, _, end = value.partition("-")
            if not start and not end:
                raise QueryError(f"{key.keyword}: a range needs a start or an end")
            q = Q()
            if start:
                q &= Q(**{f"{path}__gte": _date(start, key)})
            if end:
                q &= Q(**{f"{path}__lte": _date(end, key)})
            return q
        return Q(**{path: _date(value, key)})
    if key.match == "int":
        if not re.fullmatch(r"[+-]?\d+", value.strip()):
            raise QueryError(f"{key.keyword}: {value!r} is not a whole number")
        return Q(**{path: int(value)})
    insensitive = key.match == "pn"
    if "*" in value or "?" in value:
        return Q(**{f"{path}__{'iregex' if insensitive else 'regex'}": _wildcard_regex(value)})
    return Q(**{f"{path}__{'iexact' if insensitive else 'exact'}": value})


# --- the searches ----------------------------------------------------------------------


def _count(model: type[Series] | type[Image], outer: str, fk: str) -> Coalesce:
    rows = (
        model._default_manager.filter(**{fk: OuterRef(outer)})
        .order_by()
        .values(fk)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows), 0)


# The order of each level's results; the study level's is the index ``study_qido_newest``.
_ORDER: dict[Level, tuple[str, ...]] = {
    "study": ("-created_at", "-pk"),
    "series": ("-study__created_at", "-study_id", "series_number", "pk"),
    "instance": ("-series__study__created_at", "-series__study_id", "series_id", "instance_number", "pk"),
}


def search_queryset(
    *, user: User, search: Search, study_uid: str | None = None, series_uid: str | None = None
) -> QuerySet[Any]:
    """The page ``search`` asks for (``limit`` + 1 rows, to tell whether more follow), visible to ``user``.

    One query in two steps: the matching ids are ordered and cut to the page
    with no join beyond what the conditions need, then only the page's rows are
    joined to their parents and counted. Counting in the outer step keeps a deep
    page (a large ``offset``) from counting every row it skips.
    """
    matched, rows = _matched_and_rows(user=user, search=search, study_uid=study_uid, series_uid=series_uid)
    order = _ORDER[search.level]
    page = matched.order_by(*order).values("pk")[search.offset : search.offset + search.limit + 1]
    return rows.filter(pk__in=page).order_by(*order)


def match_count(
    *, user: User, search: Search, study_uid: str | None = None, series_uid: str | None = None
) -> int:
    """How many rows match ``search`` in all (every page), visible to ``user``; one query."""
    matched, _ = _matched_and_rows(user=user, search=search, study_uid=study_uid, series_uid=series_uid)
    return matched.count()


def _matched_and_rows(
    *, user: User, search: Search, study_uid: str | None, series_uid: str | None
) -> tuple[QuerySet[Any], QuerySet[Any]]:
    """The matching rows (ids only, unordered) and the rows to answer with (joined, annotated)."""
    visible = case_list_for_user(user=user).values("pk")
    prefix = _PREFIX[search.level]
    study_pk = {"study": "pk", "series": "study_id", "instance": "series__study_id"}[search.level]
    matched: QuerySet[Any]
    rows: QuerySet[Any]
    if search.level == "study":
        matched = Study.objects.filter(case__in=visible)
        rows = Study.objects.select_related("patient")
    elif search.level == "series":
        matched = Series.objects.filter(study__case__in=visible)
        rows = Series.objects.select_related("study", "study__patient").annotate(
            qido_instances=_count(Image, "pk", "series_id")
        )
    else:
        matched = Image.objects.filter(case__in=visible)
        rows = Image.objects.select_related("series", "series__study", "series__study__patient")
    levels = set(search.returned_levels(fixed_levels(study_uid, series_uid)))
    if "study" in levels or search.include_all or search.include & {"00201206", "00201208"}:
        rows = rows.annotate(
            qido_study_series=_count(Series, study_pk, "study_id"),
            qido_study_instances=_count(Image, study_pk, "series__study_id"),
        )
    if study_uid is not None:
        matched = matched.filter(**{f"{prefix['study']}study_instance_uid": study_uid})
    if series_uid is not None:
        matched = matched.filter(**{f"{prefix['series']}series_instance_uid": series_uid})
    for key, values in search.filters:
        condition = key_condition(key, values, prefix[key.level], study_pk)
        if condition is not None:
            matched = matched.filter(condition)
    return matched, rows


def fixed_levels(study_uid: str | None, series_uid: str | None) -> list[Level]:
    fixed: list[Level] = []
    if study_uid is not None:
        fixed.append("study")
    if series_uid is not None:
        fixed.append("series")
    return fixed


def page_of(qs: QuerySet[Any], search: Search) -> tuple[list[Any], bool]:
    """The rows of ``search_queryset`` and whether more follow (one query)."""
    rows = list(qs)
    return rows[: search.limit], len(rows) > search.limit


def modalities_of(study_ids: Iterable[int]) -> dict[int, list[str]]:
    """Modalities in Study for a page of studies, in one query."""
    found: dict[int, set[str]] = defaultdict(set)
    rows = (
        Series.objects.filter(study_id__in=list(study_ids))
        .exclude(modality="")
        .order_by()  # no ordering columns in the DISTINCT
        .values_list("study_id", "modality")
    )
    for study_id, modality in rows.distinct():
        found[study_id].add(modality)
    return {pk: sorted(mods) for pk, mods in found.items()}
