"""File names inside the platform: a neutral name for every uploaded file, and a safe display form.

An uploaded file's own name is often the patient's (``DOE_JOHN_19450101.png``),
so it is never stored, logged or shown back: every file of an upload is
called ``file-NNN`` plus a known image or archive extension, by its position
in the upload (zip entries counted in archive order).

Names come from users and from disks: a Linux file name is bytes, and Python
hands undecodable ones to us as lone surrogates (``os.fsdecode``'s
``surrogateescape``: byte 0xFF becomes U+DCFF). A lone surrogate cannot be
encoded as UTF-8, so one such name in a report made every page, admin list,
JSON column, audit entry or log line that formats it fail. What is still shown
of a name (the operator's own terminal, a reason) is therefore normalised once,
where the intake first sees it (``SourceFile`` and ``SourceRejected``):
undecodable bytes become U+FFFD, control characters go, and the result is one
line of bounded length.
"""

from __future__ import annotations

import os
from pathlib import PurePosixPath

__all__ = ["MAX_NAME_CHARS", "display_name", "neutral_name", "scrub_name"]


MAX_NAME_CHARS = 255
REPLACEMENT = "\N{REPLACEMENT CHARACTER}"


def display_name(raw: str | bytes, limit: int = MAX_NAME_CHARS) -> str:
    """``raw`` (a str, possibly surrogate-escaped, or bytes) as safe, printable, one-line text.

    Valid UTF-8 is kept as it is (``'Résumé/IM0001'``); each undecodable byte
    shows as U+FFFD; control and other non-printable characters are dropped;
    an over-long name keeps its end (the file's own name) behind an ellipsis.
    """
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", "replace")
    else:
        # Surrogate escapes back to their bytes, then decoded for real: escaped bytes that
        # happen to form valid UTF-8 become their characters, the rest U+FFFD.
        try:
            text = os.fsencode(raw).decode("utf-8", "replace") if _has_surrogates(raw) else raw
        except UnicodeError:
            text = raw
        text = "".join(REPLACEMENT if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)
    text = "".join(ch if ch.isprintable() else (" " if ch.isspace() else "") for ch in text)
    text = " ".join(text.split(" ")).strip()
    if len(text) > limit:
        text = "…" + text[-(limit - 1) :]
    return text


def _has_surrogates(text: str) -> bool:
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


# Extensions worth keeping (they say what the file is); any other suffix could be text.
_EXTENSIONS = frozenset(
    {".dcm", ".dicom", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".zip"}
)


def neutral_name(position: int, original: str) -> str:
    """'file-003.png' for the third file of an upload whatever it was called (e.g. 'DOE_JOHN.png')."""
    suffix = PurePosixPath(original.replace("\\", "/")).suffix.lower()
    return f"file-{position:03d}{suffix if suffix in _EXTENSIONS else ''}"


# Names the DICOM standard fixes (PS3.10: the media directory file): they say nothing of the
# patient, and the reasons name them ("DICOMDIR index file skipped").
_STANDARD_NAMES = frozenset({"DICOMDIR"})


def scrub_name(text: str, original: str, neutral: str) -> str:
    """``text`` (a rejection reason) with the original name and its path parts replaced.

    Reasons come from the archive reader and the decoders (a zip library's error
    may quote an entry's name). Parts shorter than 3 characters are left alone:
    replacing 'a' or 'CT' would mangle the reason's own words; so are names the
    DICOM standard fixes (``DICOMDIR``).
    """
    parts = [p for p in original.replace("\\", "/").split("/") if p]
    # Longest first, so a path is replaced whole before its parts are.
    for needle in sorted({original, *parts}, key=len, reverse=True):
        if len(needle) >= 3 and needle.upper() not in _STANDARD_NAMES:
            text = text.replace(needle, neutral)
    return text
