"""Find the Study Instance UID of an encoded Part 10 dataset by walking its elements, without pydicom.

The listener needs only this one value before it answers a C-STORE (it names the
spool folder). pydicom's reader builds every element up to it, which took more of a
store's time than writing the file. This walk reads tags and lengths only, for the
little-endian syntaxes (implicit and explicit VR, as nearly every sender uses); it
answers ``None`` (the caller then asks pydicom) for anything else: another syntax, an
undefined length before the UID (a sequence to walk), a truncated buffer, no UID found.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

PREAMBLE = 128
STUDY_UID_TAG = 0x0020000D
TRANSFER_SYNTAX_TAG = 0x00020010
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
# Explicit VRs whose length is 4 bytes after 2 reserved ones (PS3.5 §7.1.2).
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
UNDEFINED = 0xFFFFFFFF

_U16 = struct.Struct("<HH")
_LEN16 = struct.Struct("<H")
_LEN32 = struct.Struct("<I")


class _Unsure(Exception):
    """The walk cannot tell: leave it to pydicom."""


def _elements(data: bytes, pos: int, explicit: bool, stop: int) -> Iterator[tuple[int, int, int]]:
    """(tag, value start, value end) of each element from ``pos`` until the first tag above ``stop``."""
    end = len(data)
    while pos + 8 <= end:
        group, element = _U16.unpack_from(data, pos)
        tag = group << 16 | element
        if tag > stop:
            return
        if explicit:
            vr = data[pos + 4 : pos + 6]
            if not (vr.isalpha() and vr.isupper()):
                raise _Unsure  # not explicit VR after all (a sender that mislabels its syntax)
            if vr in LONG_VRS:
                if pos + 12 > end:
                    raise _Unsure
                (length,) = _LEN32.unpack_from(data, pos + 8)
                pos += 12
            else:
                (length,) = _LEN16.unpack_from(data, pos + 6)
                pos += 8
        else:
            (length,) = _LEN32.unpack_from(data, pos + 4)
            pos += 8
        if length == UNDEFINED or pos + length > end:
            raise _Unsure
        yield tag, pos, pos + length
        pos += length


def _text(raw: bytes) -> str:
    return raw.decode("ascii").rstrip("\x00 ").strip()


def scan_study_uid(encoded: bytes) -> str | None:
    """The Study Instance UID as found (padding stripped), or None when this walk does not find it."""
    if encoded[PREAMBLE : PREAMBLE + 4] != b"DICM":
        return None
    try:
        syntax = None
        pos = PREAMBLE + 4
        for tag, start, stop in _elements(encoded, pos, True, 0x0002FFFF):  # file meta: explicit VR LE
            if tag == TRANSFER_SYNTAX_TAG:
                syntax = _text(encoded[start:stop])
            pos = stop
        if syntax not in (EXPLICIT_LE, IMPLICIT_LE):
            return None
        for tag, start, stop in _elements(encoded, pos, syntax == EXPLICIT_LE, STUDY_UID_TAG):
            if tag == STUDY_UID_TAG:
                return _text(encoded[start:stop])
        return None  # no such element before a higher tag, or the end: pydicom has the last word
    except (_Unsure, UnicodeDecodeError, struct.error):
        return None
