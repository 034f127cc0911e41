"""What every entry point's corpus test checks: the outcome the input deserves, a readable reason,
never a 5xx, and nothing half-stored."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from oncocore.imaging.dicom_io import has_dicom_preamble, looks_like_bare_dataset
from tests.corpus.hostile import HostileInput, for_entry_point
from tests.corpus.model import Expect

# What a reason must not look like (a repr, raw bytes, a traceback): issue 24 item 7's "unclear".
_UNREADABLE = ("Traceback", " object at 0x", "BytesIO", "\\x")
_BYTES_REPR = re.compile(r"(?<![A-Za-z0-9_])b['\"]")  # b'...' echoed, not a word ending in b
_WORD = re.compile(r"[A-Za-z]{3,}")


def params(entry_point: str) -> list[object]:
    """The corpus for ``entry_point`` as pytest params: known bugs are strict xfails."""
    out: list[object] = []
    for item in for_entry_point(entry_point):
        known = item.known_bug(entry_point)
        marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
        out.append(pytest.param(item, id=item.name, marks=marks))
    return out


def is_dicom(data: bytes) -> bool:
    return has_dicom_preamble(data) or looks_like_bare_dataset(data)


def expected_at(item: HostileInput, entry_point: str) -> Expect:
    """STOW-RS and DIMSE take DICOM instances only: anything else must be refused there."""
    if entry_point in ("stow", "dimse") and not is_dicom(item.data):
        return "reject"
    return item.expect


def assert_readable(reason: str) -> None:
    assert reason and reason == reason.strip() and "\n" not in reason, f"not one line: {reason!r}"
    assert len(reason) <= 600, f"too long: {reason!r}"
    assert _WORD.search(reason), f"no words: {reason!r}"
    bad = [token for token in _UNREADABLE if token in reason] + _BYTES_REPR.findall(reason)
    assert not bad, f"unreadable reason ({bad}): {reason!r}"


def assert_outcome(item: HostileInput, entry_point: str, *, accepted: int, reasons: list[str]) -> None:
    """``accepted`` images stored from the input, and the reasons it (or parts of it) were refused."""
    expect = expected_at(item, entry_point)
    # Refused before intake (not a DICOM instance): the intake's own word does not apply.
    before_intake = entry_point in ("stow", "dimse") and not is_dicom(item.data)
    word = "" if before_intake else item.reason_has
    where = f"{item.name}: accepted {accepted}, reasons {reasons}"
    if expect == "reject":
        assert accepted == 0 and reasons, f"must be refused with a reason; {where}"
    elif expect == "accept":
        assert accepted >= 1 and not reasons, f"must be stored; {where}"
    elif expect == "mixed":
        assert accepted >= 1 and reasons, f"must be stored in part and refused in part; {where}"
    else:
        assert accepted or reasons, f"neither stored nor refused with a reason; {where}"
    for reason in reasons:
        assert_readable(reason)
    if word and expect == "reject":
        assert any(word in r.lower() for r in reasons), f"no {word!r} in the reason; {where}"


def assert_nothing_half_stored(media_dir: Path) -> int:
    """Every image row has its files, whole; every file under media belongs to a row. Returns the count."""
    from cases.models import Image

    images = list(Image.objects.values("storage_prefix", "file", "display", "thumbnail", "stored_sha256"))
    for image in images:
        for name in ("file", "display", "thumbnail"):
            assert (media_dir / image[name]).is_file(), f"row without its {name}: {image[name]}"
        stored = hashlib.sha256((media_dir / image["file"]).read_bytes()).hexdigest()
        assert stored == image["stored_sha256"], f"stored file is not whole: {image['file']}"
    prefixes = {image["storage_prefix"] for image in images}
    files = [p.relative_to(media_dir).as_posix() for p in media_dir.rglob("*") if p.is_file()]
    orphans = [f for f in files if not any(f.startswith(prefix + "/") for prefix in prefixes)]
    assert not orphans, f"files without rows: {orphans[:5]}"
    return len(images)
