"""JPEG and JPEG-LS marker segments, walked once for both metadata strippers.

A plain JPEG upload (:mod:`.plain_image`) and a DICOM file's compressed frames
(:mod:`.frame_metadata`) are the same marker syntax: SOI, then marker segments
(0xFF, a marker byte, a 2-byte length and a body), standalone markers (TEM,
RSTn), each scan's entropy-coded data after SOS, and EOI. :func:`segments`
walks that syntax; the callers decide what to keep. :func:`minimal_segment`
rebuilds the few COM/APPn segments a decoder needs from their numeric fields.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from .errors import Rejected

__all__ = ["EOI", "SOS", "Segment", "Walk", "is_metadata", "minimal_segment", "segments"]

SOI, EOI, SOS = 0xD8, 0xD9, 0xDA
STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RST0..RST7


@dataclass(frozen=True)
class Segment:
    """One marker: its bytes as found (0xFF, marker, length and body; two bytes when standalone)."""

    marker: int
    raw: bytes
    body: bytes = b""
    scan: bytes = b""  # after SOS: the entropy-coded data up to the next marker


@dataclass(frozen=True)
class Walk:
    """How strict a walk is, and what it says when it stops on bad bytes.

    ``lenient_end``: a stream may end without EOI, and zero padding after it is
    ignored (an encapsulated frame is padded to even length); otherwise both are
    refused with ``missing``.
    """

    truncated: str
    missing: str
    stray: str
    scan: str
    lenient_end: bool


def is_metadata(marker: int) -> bool:
    """APPn or COM: free-form segments that may hold identifying text."""
    return 0xE0 <= marker <= 0xEF or marker == 0xFE


def segments(data: bytes, walk: Walk) -> Iterator[Segment]:
    """Every marker of ``data`` after its SOI, in order, up to EOI (included).

    Raises:
        Rejected: A segment runs past the end, bytes sit between segments, or
            (strict walks) the stream stops before EOI.
    """
    pos = 2
    while True:
        if pos >= len(data) or data[pos] != 0xFF:
            if walk.lenient_end and not data[pos:].strip(b"\x00"):
                return  # the end, or even-length padding after the codestream
            raise Rejected(walk.stray if walk.lenient_end else walk.missing)
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1  # fill bytes before a marker
        if pos >= len(data):
            if walk.lenient_end:
                return
            raise Rejected(walk.missing)
        marker = data[pos]
        pos += 1
        if marker == EOI:
            yield Segment(EOI, b"\xff\xd9")
            return  # anything after EOI (a vendor trailer) goes
        if marker in STANDALONE:
            yield Segment(marker, bytes((0xFF, marker)))
            continue
        if marker == SOI:
            continue  # a SPIFF header (APP8) is followed by a second SOI: one is enough
        if pos + 2 > len(data):
            raise Rejected(walk.truncated)
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > len(data):
            raise Rejected(walk.truncated)
        raw, body = bytes((0xFF, marker)) + data[pos : pos + length], data[pos + 2 : pos + length]
        pos += length
        if marker != SOS:
            yield Segment(marker, raw, body)
            continue
        end = _scan_end(data, pos)
        if end == len(data) and not walk.lenient_end:
            raise Rejected(walk.scan)
        yield Segment(marker, raw, body, data[pos:end])
        pos = end


def _scan_end(data: bytes, pos: int) -> int:
    """Index of the 0xFF that starts the first marker after entropy-coded data at ``pos`` (or the end).

    In JPEG a 0xFF in scan data is followed by 0x00 (stuffing) or a restart
    marker; in JPEG-LS by a byte below 0x80. Either way a marker is 0xFF then a
    byte of 0x80 or more that is not RSTn; 0xFF 0xFF is fill.
    """
    while True:
        i = data.find(b"\xff", pos)
        if i < 0 or i + 1 >= len(data):
            return len(data)
        nxt = data[i + 1]
        if nxt < 0x80 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            pos = i + 1 if nxt == 0xFF else i + 2
            continue
        return i


def minimal_segment(marker: int, body: bytes) -> bytes | None:
    """A COM/APPn segment rebuilt from the fields a decoder reads, or None when it can simply go.

    JFIF: identifier, version 1.01, density units and X/Y density, no thumbnail.
    Adobe: identifier, version 100, both flag words zero, and the original
    colour transform byte (0 RGB/CMYK, 1 YCbCr, 2 YCCK), which decoders need.
    CharLS's APP8 ``mrfx``: the JPEG-LS HP colour transform id.
    """
    fields: bytes | None = None
    if marker == 0xE0 and body.startswith(b"JFIF\x00") and len(body) >= 12:
        fields = b"JFIF\x00\x01\x01" + body[7:12] + b"\x00\x00"  # no thumbnail
    elif marker == 0xEE and body.startswith(b"Adobe") and len(body) >= 12:
        fields = b"Adobe" + struct.pack(">HHHB", 100, 0, 0, body[11])  # transform flag only
    elif marker == 0xEE and body.startswith(b"Adobe"):
        fields = b"Adobe" + bytes(len(body) - 5)  # too short to be read; zeroed, same length
    elif marker == 0xE8 and body.startswith(b"mrfx") and len(body) >= 5:
        fields = b"mrfx" + body[4:5]
    if fields is None:
        return None
    return bytes((0xFF, marker)) + struct.pack(">H", len(fields) + 2) + fields
