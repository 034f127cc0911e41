"""QIDO-RS answers: each matched row in the DICOM JSON Model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dicomweb.dicom_json import attribute, vr_of
from dicomweb.qido.keys import KEYS, LEVELS, RETRIEVE_URL, Key, Level
from dicomweb.qido.search import Search


@dataclass
class Urls:
    study: Callable[[str], str]
    series: Callable[[str, str], str]
    instance: Callable[[str, str, str], str]


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


def returned_keys(search: Search, levels: list[Level]) -> list[Key]:
    """The keys each result of ``search`` carries (the same for every row of a page)."""
    below = set(LEVELS[: LEVELS.index(search.level) + 1])
    keys = []
    for key in KEYS:
        if key.level not in below:
            continue
        if not (key.level in levels or key.tag in search.include or search.include_all):
            continue
        if key.level == "series" and key.tag == "00201209" and search.level != "series":
            continue  # counted for series searches only
        keys.append(key)
    return keys


def datasets_of(
    rows: list[Any], search: Search, levels: list[Level], urls: Urls, modalities: dict[int, list[str]]
) -> list[dict[str, Any]]:
    """The page's results in the DICOM JSON Model, each with its attributes in tag order."""
    keys = returned_keys(search, levels)
    return [dataset_of(row, search, keys, urls, modalities) for row in rows]


def dataset_of(
    row: Any, search: Search, keys: list[Key], urls: Urls, modalities: dict[int, list[str]]
) -> dict[str, Any]:
    """One result in the DICOM JSON Model, attributes in tag order; ``keys`` from ``returned_keys``."""
    if search.level == "study":
        objs: dict[Level, Any] = {"study": row}
    elif search.level == "series":
        objs = {"study": row.study, "series": row}
    else:
        objs = {"study": row.series.study, "series": row.series, "instance": row}
    study = objs["study"]
    study.qido_series = getattr(row, "qido_study_series", None)
    study.qido_instances = getattr(row, "qido_study_instances", None)
    out: dict[str, Any] = {}
    if search.include_all and search.level == "instance":
        out.update(header_attributes(row.header or {}))
    for key in keys:
        if key.tag == "00080061":
            out[key.tag] = attribute(key.vr, *modalities.get(study.pk, []))
        else:
            out[key.tag] = attribute(key.vr, key.value(objs[key.level]))
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
