"""A JSON-serialisable view of a (de-identified) DICOM header for the UI.

Keys look like ``'(0008,0060) Modality'``; values are strings, numbers, lists of
those, or lists of nested dicts for sequences. Pixel data and other bulk binary
values are summarised, long values truncated, deep or long sequences cut, so the
result stays small enough to store in a JSON column.
"""

from __future__ import annotations

import math
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from .errors import one_line

MAX_VALUE_CHARS = 256
MAX_SEQUENCE_ITEMS = 20
MAX_DEPTH = 4
MAX_LIST_VALUES = 32
_BULK_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}


def header_dict(ds: Dataset, *, include_meta: bool = True) -> dict[str, Any]:
    """The header of ``ds`` (file meta first, then the dataset), without pixel data."""
    out: dict[str, Any] = {}
    meta = getattr(ds, "file_meta", None)
    if include_meta and meta is not None:
        out.update(_dataset_dict(meta, depth=0))
    out.update(_dataset_dict(ds, depth=0))
    return out


def _key(elem: DataElement) -> str:
    tag = elem.tag
    return (
        f"({tag.group:04X},{tag.element:04X}) {elem.keyword or ('Private' if tag.is_private else 'Unknown')}"
    )


def _dataset_dict(ds: Dataset, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in ds.keys():  # noqa: SIM118 - iterating a Dataset yields elements, not tags
        if tag.group == 0x7FE0:  # Pixel Data and its float/double variants
            continue
        try:
            elem = ds[tag]
            out[_key(elem)] = _value(elem, depth)
        except Exception as exc:  # a malformed value must not hide the rest of the header
            out[f"({tag.group:04X},{tag.element:04X}) Unknown"] = f"<unreadable: {type(exc).__name__}>"
    return out


def _value(elem: DataElement, depth: int) -> Any:
    if elem.VR == "SQ":
        items = list(elem.value or [])
        if depth + 1 >= MAX_DEPTH:
            return f"<sequence of {len(items)} item(s)>"
        shown: list[Any] = [_dataset_dict(item, depth + 1) for item in items[:MAX_SEQUENCE_ITEMS]]
        if len(items) > MAX_SEQUENCE_ITEMS:
            shown.append({"…": f"{len(items) - MAX_SEQUENCE_ITEMS} more item(s)"})
        return shown
    if elem.VR in _BULK_VRS or isinstance(elem.value, (bytes, bytearray)):
        size = len(elem.value or b"")
        return f"<{size} bytes>" if size > 16 else (bytes(elem.value or b"").hex(" ") or "")
    value = elem.value
    if isinstance(value, (MultiValue, list, tuple)):
        shown = [_scalar(v) for v in list(value)[:MAX_LIST_VALUES]]
        if len(value) > MAX_LIST_VALUES:
            shown.append(f"… {len(value) - MAX_LIST_VALUES} more")
        return shown
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    text = str(value)
    if len(text) > MAX_VALUE_CHARS or "\n" in text or "\r" in text:
        return one_line(text, MAX_VALUE_CHARS)
    return text
