"""The one exception the imaging package raises on purpose."""

from __future__ import annotations


class Rejected(Exception):
    """A file we refuse, with a one-line reason a user can read.

    Examples: ``'not a DICOM file'``, ``'truncated pixel data: 8130 of 8192 bytes'``,
    ``'image is 60000x60000, over the 40-megapixel limit'``,
    ``'no pixel data (RT Plan Storage): only images can be ingested'``.

    The reason is always a single line (newlines are folded into spaces) and is
    capped in length, so it is safe to show in a table cell or store in a
    ``CharField``.
    """

    MAX_REASON_CHARS = 300

    def __init__(self, reason: str):
        self.reason: str = one_line(reason, self.MAX_REASON_CHARS) or "rejected"
        super().__init__(self.reason)


def one_line(text: str, limit: int = 300) -> str:
    """``text`` folded to one line and cut at ``limit`` characters."""
    folded = " ".join(str(text).split())
    if len(folded) > limit:
        folded = folded[: limit - 1] + "…"
    return folded
