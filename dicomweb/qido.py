"""QIDO-RS (PS3.18 §10.6): search studies, series and instances the user may see.

Matching keys, return keys and levels are listed in ``KEYS`` and in
docs/dicomweb.md. Every search starts from ``case_list_for_user``: another
site's studies are never matched. A page costs a constant number of queries:
one for the rows (parents joined, counts as subqueries) and, when Modalities in
Study is returned, one for the page's series modalities.
"""

from __future__ import annotations

import datetime
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from cases.models import Image, Series, Study, User
from cases.selectors import case_list_for_user
from dicomweb.dicom_json import attribute, da, tag_of, tm, vr_of

Level = Literal["study", "series", "instance"]
LEVELS: tuple[Level, ...] = ("study", "series", "instance")
Match = Literal["uid", "date", "string", "pn", "int", "modalities", "none", "return"]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
NOT_FOUND = object()


class QueryError(ValueError):
    """A search the server cannot understand (400), with the reason."""


@dataclass(frozen=True)
class Key:
    """An attribute the platform returns; ``field`` is its column from the level's model."""

    tag: str
    keyword: str
    vr: str
    level: Level
    match: Match
    field: str = ""
    value: Callable[[Any], Any] = lambda obj: None


def _k(tag: str, keyword: str, vr: str, level: Level, match: Match, fld: str = "", value: Any = None) -> Key:
    def from_field(obj: Any) -> Any:
        return _path(obj, fld) if fld else None

    return Key(tag, keyword, vr, level, match, fld, value or from_field)


def _path(obj: Any, dotted: str) -> Any:
    for name in dotted.split("__"):
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def _pseudonym(study: Study) -> str | None:
    return study.patient.pseudonym if study.patient else None


KEYS: list[Key] = [
    # Study level. The de-identification keeps no accession number, referring physician,
    # study ID or birth date: they are returned empty and a value matches nothing.
    _k("00080020", "StudyDate", "DA", "study", "date", "study_date", lambda s: da(s.study_date)),
    _k("00080030", "StudyTime", "TM", "study", "return", value=lambda s: tm(s.study_time)),
    _k("00080050", "AccessionNumber", "SH", "study", "none"),
    _k("00080056", "InstanceAvailability", "CS", "study", "return", value=lambda s: "ONLINE"),
    _k("00080061", "ModalitiesInStudy", "CS", "study", "modalities"),
    _k("00080090", "ReferringPhysicianName", "PN", "study", "none"),
    _k("00081030", "StudyDescription", "LO", "study", "string", "description"),
    _k("00100010", "PatientName", "PN", "study", "pn", "patient__pseudonym", _pseudonym),
    _k("00100020", "PatientID", "LO", "study", "string", "patient__pseudonym", _pseudonym),
    _k("00100030", "PatientBirthDate", "DA", "study", "none"),
    _k("00100040", "PatientSex", "CS", "study", "string", "patient__sex"),
    _k("00101010", "PatientAge", "AS", "study", "string", "patient_age"),
    _k("0020000D", "StudyInstanceUID", "UI", "study", "uid", "study_instance_uid"),
    _k("00200010", "StudyID", "SH", "study", "none"),
    _k("00201206", "NumberOfStudyRelatedSeries", "IS", "study", "return", value=lambda s: s.qido_series),
    _k(
        "00201208", "NumberOfStudyRelatedInstances", "IS", "study", "return", value=lambda s: s.qido_instances
    ),
    # Series level.
    _k("00080060", "Modality", "CS", "series", "string", "modality"),
    _k("0008103E", "SeriesDescription", "LO", "series", "string", "description"),
    _k("00180015", "BodyPartExamined", "CS", "series", "string", "body_part"),
    _k("0020000E", "SeriesInstanceUID", "UI", "series", "uid", "series_instance_uid"),
    _k("00200011", "SeriesNumber", "IS", "series", "int", "series_number"),
    _k(
        "00201209",
        "NumberOfSeriesRelatedInstances",
        "IS",
        "series",
        "return",
        value=lambda s: s.qido_instances,
    ),
    # Instance level.
    _k("00080016", "SOPClassUID", "UI", "instance", "uid", "sop_class_uid"),
    _k("00080018", "SOPInstanceUID", "UI", "instance", "uid", "sop_instance_uid"),
    _k("00200013", "InstanceNumber", "IS", "instance", "int", "instance_number"),
    _k("00280008", "NumberOfFrames", "IS", "instance", "int", "frames"),
    _k("00280010", "Rows", "US", "instance", "int", "rows"),
    _k("00280011", "Columns", "US", "instance", "int", "cols"),
    _k("00280100", "BitsAllocated", "US", "instance", "return", value=lambda i: _header_value(i, "00280100")),
]
KEY_BY_TAG = {key.tag: key for key in KEYS}
RETRIEVE_URL = "00081190"

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


def _condition(key: Key, values: list[str], prefix: str, study_pk: str) -> Q | None:
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


def search_queryset(
    *, user: User, search: Search, study_uid: str | None = None, series_uid: str | None = None
) -> QuerySet[Any]:
    """The matching rows, visible to ``user``, in a stable order (slice it for a page)."""
    visible = case_list_for_user(user=user).values("pk")
    prefix = _PREFIX[search.level]
    study_pk = {"study": "pk", "series": "study_id", "instance": "series__study_id"}[search.level]
    qs: QuerySet[Any]
    if search.level == "study":
        qs = Study.objects.filter(case__in=visible).select_related("patient").order_by("-created_at", "-pk")
    elif search.level == "series":
        qs = (
            Series.objects.filter(study__case__in=visible)
            .select_related("study", "study__patient")
            .annotate(qido_instances=_count(Image, "pk", "series_id"))
            .order_by("-study__created_at", "-study_id", "series_number", "pk")
        )
    else:
        qs = (
            Image.objects.filter(case__in=visible)
            .select_related("series", "series__study", "series__study__patient")
            .order_by("-series__study__created_at", "-series__study_id", "series_id", "instance_number", "pk")
        )
    levels = set(search.returned_levels(fixed_levels(study_uid, series_uid)))
    if "study" in levels or search.include_all or search.include & {"00201206", "00201208"}:
        qs = qs.annotate(
            qido_study_series=_count(Series, study_pk, "study_id"),
            qido_study_instances=_count(Image, study_pk, "series__study_id"),
        )
    if study_uid is not None:
        qs = qs.filter(**{f"{prefix['study']}study_instance_uid": study_uid})
    if series_uid is not None:
        qs = qs.filter(**{f"{prefix['series']}series_instance_uid": series_uid})
    for key, values in search.filters:
        condition = _condition(key, values, prefix[key.level], study_pk)
        if condition is not None:
            qs = qs.filter(condition)
    return qs


def fixed_levels(study_uid: str | None, series_uid: str | None) -> list[Level]:
    fixed: list[Level] = []
    if study_uid is not None:
        fixed.append("study")
    if series_uid is not None:
        fixed.append("series")
    return fixed


def page_of(qs: QuerySet[Any], search: Search) -> tuple[list[Any], bool]:
    """One page and whether more rows follow (one query: limit + 1 rows)."""
    rows = list(qs[search.offset : search.offset + search.limit + 1])
    return rows[: search.limit], len(rows) > search.limit


def modalities_of(study_ids: Iterable[int]) -> dict[int, list[str]]:
    """Modalities in Study for a page of studies, in one query."""
    found: dict[int, set[str]] = defaultdict(set)
    rows = (
        Series.objects.filter(study_id__in=list(study_ids))
        .exclude(modality="")
        .values_list("study_id", "modality")
    )
    for study_id, modality in rows.distinct():
        found[study_id].add(modality)
    return {pk: sorted(mods) for pk, mods in found.items()}


# --- the answer --------------------------------------------------------------------------


@dataclass
class Urls:
    study: Callable[[str], str]
    series: Callable[[str, str], str]
    instance: Callable[[str, str, str], str]


def _header_value(image: Image, tag: str) -> Any:
    for name, value in (image.header or {}).items():
        if name[1:5] + name[6:10] == tag:
            return value
    return None


def header_attributes(header: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The stored (de-identified) header's plain top-level elements in the DICOM JSON Model.

    Left out: file meta (group 0002), private elements, sequences and bulk values
    (the stored header summarises those; WADO-RS metadata will serve them).
    """
    out: dict[str, dict[str, Any]] = {}
    for name, value in header.items():
        if not name.startswith("(") or len(name) < 11:
            continue
        tag = (name[1:5] + name[6:10]).upper()
        group = int(tag[:4], 16)
        if group == 0x0002 or group % 2 == 1 or group == 0x7FE0 or isinstance(value, dict):
            continue
        vr = vr_of(tag)
        if vr in {"SQ", "OB", "OD", "OF", "OL", "OV", "OW", "UN"}:
            continue
        values = value if isinstance(value, list) else [value]
        if any(isinstance(v, dict) for v in values):
            continue
        out[tag] = attribute(vr, *[_typed(vr, v) for v in values])
    return out


def _typed(vr: str, value: Any) -> Any:
    try:
        if vr in {"US", "UL", "SS", "SL", "UV", "SV", "IS"}:
            return int(value)
        if vr in {"FL", "FD", "DS"}:
            return float(value)
    except (TypeError, ValueError):
        return str(value)
    return value if isinstance(value, (int, float)) and vr not in {"DA", "TM", "DT"} else str(value)


def dataset_of(
    row: Any, search: Search, levels: list[Level], urls: Urls, modalities: dict[int, list[str]]
) -> dict[str, Any]:
    """One result in the DICOM JSON Model, attributes in tag order."""
    if search.level == "study":
        objs: dict[Level, Any] = {"study": row}
    elif search.level == "series":
        objs = {"study": row.study, "series": row}
    else:
        objs = {"study": row.series.study, "series": row.series, "instance": row}
    study = objs["study"]
    study.qido_series = getattr(row, "qido_study_series", None)
    study.qido_instances = getattr(row, "qido_study_instances", None)
    wanted = set(search.include)
    out: dict[str, Any] = {}
    if search.include_all and search.level == "instance":
        out.update(header_attributes(row.header or {}))
    for key in KEYS:
        if key.level not in objs:
            continue
        if not (key.level in levels or key.tag in wanted or search.include_all):
            continue
        if key.tag == "00080061":
            value: Any = modalities.get(study.pk, [])
            out[key.tag] = attribute(key.vr, *value)
            continue
        if key.level == "series" and key.tag == "00201209" and search.level != "series":
            continue  # counted for series searches only
        value = key.value(objs[key.level])
        out[key.tag] = attribute(key.vr, value)
    study_uid = study.study_instance_uid
    if search.level == "study":
        url = urls.study(study_uid)
    elif search.level == "series":
        url = urls.series(study_uid, row.series_instance_uid)
    else:
        url = urls.instance(study_uid, row.series.series_instance_uid, row.sop_instance_uid)
    out[RETRIEVE_URL] = attribute("UR", url)
    return dict(sorted(out.items()))


def needs_modalities(search: Search, levels: list[Level]) -> bool:
    return "study" in levels or search.include_all or "00080061" in search.include
