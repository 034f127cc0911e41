"""The one exception the imaging package raises on purpose."""

from __future__ import annotations

import re


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
        self.reason: str = one_line(readable(reason), self.MAX_REASON_CHARS) or "rejected"
        super().__init__(self.reason)


def one_line(text: str, limit: int = 300) -> str:
    """``text`` folded to one line and cut at ``limit`` characters."""
    folded = " ".join(str(text).split())
    if len(folded) > limit:
        folded = folded[: limit - 1] + "…"
    return folded


# What a library's exception text may carry that means nothing to a radiologist, or echoes
# the file's own bytes: object reprs ("<_io.BytesIO object at 0x7f...>"), bytes literals
# (b'\\x00\\x01'), escape sequences, and anything non-printable.
_OBJECT_REPR = re.compile(r"<[^<>]*(?: object at 0x[0-9a-fA-F]+|class '[^']*'|_io\.[^<>]*|built-in[^<>]*)>")
_BYTES_LITERAL = re.compile(r"""\bb(?:'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?)""")
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{0,2}|u[0-9a-fA-F]{0,4}|U[0-9a-fA-F]{0,8}|[0-7]{1,3}|[abfnrtv])")


def readable(text: str) -> str:
    """``text`` without object reprs, bytes literals, escape sequences or non-printable characters.

    The safety net under every :class:`Rejected` reason: the reasons are written as
    sentences, but a library's message can still carry one of these.
    """
    text = _OBJECT_REPR.sub("the file", str(text))
    text = _BYTES_LITERAL.sub("(binary data)", text)
    text = _ESCAPE.sub("?", text)
    text = text.replace("<", "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK}").replace(
        ">", "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}"
    )
    return "".join(ch if ch.isprintable() else " " for ch in text)


def file_value(value: object, limit: int = 40) -> str:
    """A value read from an uploaded file, quoted for a reason: printable ASCII only, cut at ``limit``.

    Bytes are shown by their printable ASCII characters; everything else becomes ``?``,
    so a reason never echoes raw bytes or control characters.
    """
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("latin-1")
    text = "".join(
        ch if (ch.isascii() and ch.isprintable() and ch not in "<>\\") else "?" for ch in str(value)
    )
    text = text.strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"“{text}”"
