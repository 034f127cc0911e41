"""The display form of a file name, for every name the intake reports or stores.

Names come from users and from disks: a Linux file name is bytes, and Python
hands undecodable ones to us as lone surrogates (``os.fsdecode``'s
``surrogateescape``: byte 0xFF becomes U+DCFF). A lone surrogate cannot be
encoded as UTF-8, so one such name in a report made every page, admin list,
JSON column, audit entry or log line that formats it fail. Names are therefore
normalised once, where the intake first sees them (``SourceFile`` and
``SourceRejected``): undecodable bytes become U+FFFD, control characters go,
and the result is one line of bounded length.
"""

from __future__ import annotations

import os

__all__ = ["MAX_NAME_CHARS", "display_name"]

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
