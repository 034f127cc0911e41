"""What a compressed frame will decode to, read from its codestream header without decoding it.

A DICOM header's Rows and Columns say how large a frame is, but the decoders
allocate what the codestream itself says: a 3.5 KB JPEG-LS stream that
declares 20000 x 20000 makes CharLS allocate 760 MiB, whatever the header
says. These parsers read only the few header bytes that carry the size:

- JPEG (baseline, extended, lossless) and JPEG-LS: the frame header, SOFn
  (0xFFC0-0xFFCF but DHT, JPG and DAC) or JPEG-LS's SOF55 (0xFFF7), and
  JPEG-LS's oversize-dimension LSE segment (0xFFF8, ID 4), up to the first
  scan; JPEG hierarchical DHP (0xFFDE) is read like a frame header.
- JPEG 2000 and HTJ2K: the SIZ marker (0xFF51) right after SOC, also inside a
  JP2 file's ``jp2c`` box (some writers wrap the codestream in one).
- RLE: the 64-byte header (segment count and offsets) and, per segment, the
  number of bytes its PackBits runs expand to, counted without expanding them
  and given up once past the frame's size.

No Django here and no decoding: each function looks at bytes and returns
numbers, or raises :class:`CodestreamError` with a short reason.
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Callable
from dataclasses import dataclass


def _load_bounded_decode() -> Callable[[bytes, int, int, str], bytearray] | None:
    """pylibjpeg-rle's Rust ``decode_frame(src, length, bits, byteorder)``, which stops at ``length`` bytes."""
    try:
        module = importlib.import_module("rle.rle")  # an extension module without type stubs
    except ImportError:  # pragma: no cover - a hard dependency; the Python walk stands in
        return None
    decode: Callable[[bytes, int, int, str], bytearray] = module.decode_frame
    return decode


_bounded_decode = _load_bounded_decode()

__all__ = [
    "CodestreamError",
    "Dimensions",
    "j2k_dimensions",
    "jpeg_dimensions",
    "rle_segment_exceeds",
    "rle_segments",
]


class CodestreamError(ValueError):
    """The codestream header is missing, truncated or malformed (the reason is the message)."""


@dataclass(frozen=True)
class Dimensions:
    """The size a codestream decodes to: ``cols`` x ``rows``, with ``components`` samples per pixel."""

    cols: int
    rows: int
    components: int

    def text(self) -> str:
        return f"{self.cols} x {self.rows}"


# --- JPEG and JPEG-LS --------------------------------------------------------------------------

_SOI, _SOS, _EOI, _DHP, _SOF55, _LSE = 0xD8, 0xDA, 0xD9, 0xDE, 0xF7, 0xF8
# SOF0..SOF15 are 0xC0..0xCF except DHT (C4), JPG (C8) and DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers with no length field: TEM and RST0..RST7 (SOI and EOI are handled apart).
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_LSE_OVERSIZE = 4


def jpeg_dimensions(frame: bytes) -> list[Dimensions]:
    """Every frame header's size in a JPEG or JPEG-LS codestream, read up to the first scan.

    A plain stream has one frame header; a hierarchical one (DHP plus several
    SOFs) has more, and every one is returned so that the caller checks them
    all. JPEG-LS streams whose SOF55 leaves a dimension at 0 take it from the
    oversize-dimension LSE segment, as CharLS does.

    Raises:
        CodestreamError: No SOI, no frame header before the first scan, a
            dimension left at 0, or a truncated segment.
    """
    if frame[:2] != b"\xff\xd8":
        raise CodestreamError("does not start with a JPEG SOI marker")
    headers: list[list[int]] = []  # [cols, rows, components] per frame header
    oversize: tuple[int, int] | None = None
    pos, end = 2, len(frame)
    while True:
        while pos < end and frame[pos] != 0xFF:
            pos += 1  # bytes between segments (not allowed, but decoders skip them)
        while pos < end and frame[pos] == 0xFF:
            pos += 1  # fill bytes
        if pos >= end:
            raise CodestreamError("ends before its first scan")
        marker = frame[pos]
        pos += 1
        if marker in _STANDALONE or marker == _SOI:
            continue
        if marker == _EOI:
            raise CodestreamError("ends before its first scan")
        if pos + 2 > end:
            raise CodestreamError("is truncated in a marker segment")
        (length,) = struct.unpack(">H", frame[pos : pos + 2])
        body = frame[pos + 2 : pos + length]
        if length < 2 or len(body) != length - 2:
            raise CodestreamError("is truncated in a marker segment")
        if marker == _SOS:
            break
        if marker in _SOF or marker in (_SOF55, _DHP):
            if len(body) < 6:
                raise CodestreamError("has a truncated frame header")
            _precision, rows, cols, components = struct.unpack(">BHHB", body[:6])
            headers.append([cols, rows, components])
        elif marker == _LSE and body[:1] == bytes([_LSE_OVERSIZE]):
            oversize = _lse_oversize(body)
        pos += length
    if not headers:
        raise CodestreamError("has no frame header (SOF) before its first scan")
    found = []
    for cols, rows, components in headers:
        if oversize is not None:
            rows, cols = rows or oversize[0], cols or oversize[1]
        if rows == 0 or cols == 0:
            # JPEG allows a DNL marker after the first scan to give the height; we do not
            # follow it: the size must be known before anything is decoded.
            raise CodestreamError(f"leaves its size open ({cols} x {rows}) in the frame header")
        found.append(Dimensions(cols, rows, components))
    return found


def _lse_oversize(body: bytes) -> tuple[int, int]:
    """(rows, cols) of a JPEG-LS LSE ID 4 segment: Wxy, then Y and X on Wxy bytes each."""
    if len(body) < 2 or not 2 <= body[1] <= 4 or len(body) < 2 + 2 * body[1]:
        raise CodestreamError("has a malformed JPEG-LS oversize-dimension segment")
    width = body[1]
    rows = int.from_bytes(body[2 : 2 + width], "big")
    cols = int.from_bytes(body[2 + width : 2 + 2 * width], "big")
    return rows, cols


# --- JPEG 2000 and HTJ2K ----------------------------------------------------------------------

_J2K_SOC_SIZ = b"\xff\x4f\xff\x51"
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


def j2k_dimensions(frame: bytes) -> Dimensions:
    """The image size in a JPEG 2000 (or HTJ2K) codestream's SIZ marker.

    The image area is (Xsiz - XOsiz) x (Ysiz - YOsiz) on the reference grid;
    Csiz is the number of components. A JP2 file is looked into for its
    ``jp2c`` (contiguous codestream) box.

    Raises:
        CodestreamError: Neither a codestream (SOC then SIZ) nor a JP2 file
            holding one, or a truncated or inconsistent SIZ.
    """
    if frame.startswith(_JP2_SIGNATURE):
        frame = _jp2_codestream(frame)
    if not frame.startswith(_J2K_SOC_SIZ):
        raise CodestreamError("does not start with the JPEG 2000 SOC and SIZ markers")
    # SIZ: Lsiz, Rsiz (2 bytes each), Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz (4 each), Csiz (2)
    fields = frame[4 : 4 + 38]
    if len(fields) < 38:
        raise CodestreamError("has a truncated SIZ marker")
    _lsiz, _rsiz, xsiz, ysiz, xosiz, yosiz, *_tiles, csiz = struct.unpack(">HHIIIIIIIIH", fields)
    if xosiz >= xsiz or yosiz >= ysiz:
        raise CodestreamError(f"has an empty image area in its SIZ marker ({xsiz}-{xosiz} x {ysiz}-{yosiz})")
    return Dimensions(xsiz - xosiz, ysiz - yosiz, csiz)


def _jp2_codestream(data: bytes) -> bytes:
    """The content of a JP2 file's first ``jp2c`` box."""
    pos = 0
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        header = 8
        if length == 1:  # the length follows as 8 bytes (XLBox)
            if pos + 16 > len(data):
                break
            (length,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
            header = 16
        elif length == 0:  # the last box runs to the end
            length = len(data) - pos
        if kind == b"jp2c":
            return data[pos + header : pos + length]
        if length < header:
            break
        pos += length
    raise CodestreamError("is a JP2 file without a codestream box")


# --- RLE ----------------------------------------------------------------------------------------

_RLE_HEADER = 64
_RLE_MAX_SEGMENTS = 15


def rle_segments(frame: bytes) -> list[bytes]:
    """The segments of an RLE frame, split at the header's offsets the way pydicom splits them.

    Raises:
        CodestreamError: A frame shorter than its header, or a segment count over 15.
    """
    if len(frame) < _RLE_HEADER:
        raise CodestreamError(f"is {len(frame)} bytes, shorter than the 64-byte RLE header")
    count, *offsets = struct.unpack("<16I", frame[:_RLE_HEADER])
    if count > _RLE_MAX_SEGMENTS:
        raise CodestreamError(f"declares {count} RLE segments, over the 15 an RLE header can hold")
    bounds = [*offsets[:count], len(frame)]
    return [frame[bounds[i] : bounds[i + 1]] for i in range(count)]


def rle_segment_exceeds(segment: bytes, cap: int) -> bool:
    """True when a PackBits segment decodes to more than ``cap`` bytes, found without keeping more than that.

    A header byte n < 128 copies the next n + 1 bytes, n > 128 repeats the
    next byte 257 - n times, 128 is a no-op; a run cut short by the end of the
    segment yields what is there (as pydicom's own decoder does). Two input
    bytes expand to 128 at most, so a segment shorter than ``cap / 64`` cannot
    exceed ``cap`` and is not looked at. Otherwise pylibjpeg-rle's decoder is
    asked for ``cap + 1`` bytes: it stops there (so it holds one plane at most,
    for milliseconds) and fails when the segment ends sooner. Without it the
    runs are walked in Python, stopping as soon as the count passes ``cap``
    (a bomb costs a few thousand steps; a large honest segment, seconds).
    """
    if 64 * len(segment) <= cap:
        return False
    if _bounded_decode is None:
        return _walk_exceeds(segment, cap)
    one_segment_header = struct.pack("<16I", 1, _RLE_HEADER, *[0] * 14)
    try:
        _bounded_decode(one_segment_header + segment, cap + 1, 8, "<")
    except ValueError:  # the segment ended before cap + 1 bytes
        return False
    return True


# Per header byte: input bytes the run takes (header included) and output bytes it yields.
_STEP = [n + 2 if n < 128 else (1 if n == 128 else 2) for n in range(256)]
_GAIN = [n + 1 if n < 128 else (0 if n == 128 else 257 - n) for n in range(256)]


def _walk_exceeds(segment: bytes, cap: int) -> bool:
    size, pos, out = len(segment), 0, 0
    while pos < size:
        header = segment[pos]
        # A run cut short by the end yields only what is there.
        out += (
            min(_GAIN[header], size - pos - 1) if header < 128 else (_GAIN[header] if pos + 1 < size else 0)
        )
        if out > cap:
            return True
        pos += _STEP[header]
    return False
