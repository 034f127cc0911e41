"""The DICOM JSON Model (PS3.18 Annex F): attributes as ``{"gggg eeee": {"vr": ..., "Value": [...]}}``."""

from __future__ import annotations

import datetime
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword

# The platform's private block: a one-line reason with each STOW-RS result (the standard's
# Failure Reason is a code only). Private Creator (0009,0010) names the block.
PRIVATE_CREATOR_TAG = "00090010"
PRIVATE_CREATOR = "ONCOPORTAL"
REASON_TAG = "00091010"


def attribute(vr: str, *values: Any) -> dict[str, Any]:
    """One attribute; empty values (None, "") leave ``Value`` out (a present but empty, Type 2 attribute)."""
    kept = [v for v in values if v is not None and v != ""]
    if not kept:
        return {"vr": vr}
    if vr == "PN":
        kept = [{"Alphabetic": str(v)} for v in kept]
    return {"vr": vr, "Value": kept}


def da(value: datetime.date | None) -> str | None:
    return value.strftime("%Y%m%d") if value else None


def tm(value: datetime.time | None) -> str | None:
    if value is None:
        return None
    text = value.strftime("%H%M%S")
    return f"{text}.{value.microsecond:06d}" if value.microsecond else text


def tag_of(name: str) -> str | None:
    """``PatientID`` or ``00100020`` → ``00100020``; None for anything else (sequences paths included)."""
    if len(name) == 8:
        try:
            int(name, 16)
        except ValueError:
            pass
        else:
            return name.upper()
    tag = tag_for_keyword(name)
    return None if tag is None else f"{tag:08X}"


def keyword_of(tag: str) -> str:
    return keyword_for_tag(int(tag, 16)) or tag


def vr_of(tag: str) -> str:
    try:
        return str(dictionary_VR(int(tag, 16))).split(" or ")[0]
    except KeyError:
        return "UN"


def with_reason(item: dict[str, Any], reason: str) -> dict[str, Any]:
    """``item`` with the platform's reason text in its private block."""
    if reason:
        item[PRIVATE_CREATOR_TAG] = attribute("LO", PRIVATE_CREATOR)
        item[REASON_TAG] = attribute("LT", reason)
    return item
