"""Metadata segments inside encapsulated JPEG and JPEG-LS frames: removed without touching the image data.

A DICOM file's compressed frames are JPEG codestreams of their own, and a
codestream may carry COM (comment) and APPn segments: a scanner's or a
converter's free text, an EXIF block, a thumbnail. De-identifying the header
leaves them where they are, since the pixel data is stored as received. This
module rewrites each frame's marker segments: COM and APPn go, except the
few that decoding reads, rebuilt from their numeric fields alone (JFIF
density, the Adobe colour transform flag, JPEG-LS's HP colour transform in
APP8 ``mrfx``). Frame headers, tables and the entropy-coded data are copied
byte for byte, so every frame decodes to the same pixels. The frames are
then encapsulated again, with a Basic Offset Table when the original had one
and an Extended Offset Table when it had that; a file whose frames carry no
such segment is not rewritten at all.

JPEG 2000 and HTJ2K frames go through the same rewrite and re-encapsulation,
with their own marker syntax (:mod:`.j2k_metadata`).
"""

from __future__ import annotations

import struct

from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames, parse_basic_offsets
from pydicom.uid import JPEG2000TransferSyntaxes

from .errors import Rejected
from .j2k_metadata import strip_j2k_frame

__all__ = ["JPEG_MARKER_SYNTAXES", "strip_frame_metadata", "strip_jpeg_frame"]

# JPEG processes (baseline to lossless, retired ones included) and JPEG-LS: one marker syntax.
JPEG_MARKER_SYNTAXES = frozenset(
    {f"1.2.840.10008.1.2.4.{n}" for n in range(50, 71)} | {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
)

_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RST0..RST7
_SOS, _EOI = 0xDA, 0xD9


def _minimal(marker: int, body: bytes) -> bytes | None:
    """The segment rebuilt from the fields a decoder reads, or None when it can simply go."""
    fields: bytes | None = None
    if marker == 0xE0 and body.startswith(b"JFIF\x00") and len(body) >= 12:
        fields = b"JFIF\x00\x01\x01" + body[7:12] + b"\x00\x00"  # no thumbnail
    elif marker == 0xEE and body.startswith(b"Adobe") and len(body) >= 12:
        fields = b"Adobe" + struct.pack(">HHHB", 100, 0, 0, body[11])  # transform flag only
    elif marker == 0xEE and body.startswith(b"Adobe"):
        fields = b"Adobe" + bytes(len(body) - 5)  # too short to be read; zeroed, same length
    elif marker == 0xE8 and body.startswith(b"mrfx") and len(body) >= 5:
        fields = b"mrfx" + body[4:5]  # CharLS: JPEG-LS HP colour transform id
    if fields is None:
        return None
    return bytes((0xFF, marker)) + struct.pack(">H", len(fields) + 2) + fields


def _scan_end(data: bytes, pos: int) -> int:
    """Where the entropy-coded data starting at ``pos`` ends: at the next real marker.

    In JPEG a 0xFF in scan data is followed by 0x00 (stuffing) or a restart
    marker; in JPEG-LS by a byte below 0x80. Either way a marker is 0xFF then a
    byte of 0x80 or more that is not RSTn; 0xFF 0xFF is fill.
    """
    while True:
        i = data.find(b"\xff", pos)
        if i < 0 or i + 1 >= len(data):
            return len(data)  # no EOI: the scan runs to the end (decoders accept it)
        nxt = data[i + 1]
        if nxt < 0x80 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            pos = i + 1 if nxt == 0xFF else i + 2
            continue
        return i


def strip_jpeg_frame(frame: bytes) -> tuple[bytes, int]:
    """The frame without COM/APPn payloads, and how many segments were removed or cut.

    Raises:
        Rejected: The frame is not a JPEG codestream or a marker segment is truncated.
    """
    if frame[:2] != b"\xff\xd8":
        raise Rejected("compressed frame does not start with a JPEG SOI marker: cannot remove its metadata")
    out, pos, removed = bytearray(b"\xff\xd8"), 2, 0
    while pos < len(frame):
        if frame[pos] != 0xFF:
            if not frame[pos:].strip(b"\x00"):
                break  # even-length padding after the codestream
            raise Rejected("compressed frame has bytes between its marker segments")
        while pos < len(frame) and frame[pos] == 0xFF:
            pos += 1
        if pos >= len(frame):
            break
        marker = frame[pos]
        pos += 1
        if marker == _EOI:
            out += b"\xff\xd9"
            break  # anything after EOI (a vendor trailer) goes
        if marker in _STANDALONE:
            out += bytes((0xFF, marker))
            continue
        if marker == 0xD8:
            continue  # a SPIFF header (APP8, dropped) is followed by a second SOI: one is enough
        if pos + 2 > len(frame):
            raise Rejected("compressed frame is truncated in a marker segment")
        (length,) = struct.unpack(">H", frame[pos : pos + 2])
        if length < 2 or pos + length > len(frame):
            raise Rejected("compressed frame is truncated in a marker segment")
        body = frame[pos + 2 : pos + length]
        segment = bytes((0xFF, marker)) + frame[pos : pos + length]
        pos += length
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            kept = _minimal(marker, body)
            if kept is not None:
                out += kept
            removed += kept is None or len(kept) < len(segment)
            continue
        out += segment
        if marker == _SOS:
            end = _scan_end(frame, pos)
            out += frame[pos:end]
            pos = end
    return bytes(out), removed


def strip_frame_metadata(ds: Dataset, ts: str) -> int:
    """Remove COM/APPn payloads from every frame of ``ds`` (JPEG, JPEG-LS, JPEG 2000); return how many.

    The Pixel Data element is replaced only when something was removed.
    """
    if ts in JPEG_MARKER_SYNTAXES:
        strip = strip_jpeg_frame
    elif ts in JPEG2000TransferSyntaxes:  # HTJ2K included
        strip = strip_j2k_frame
    else:
        return 0
    if "PixelData" not in ds:
        return 0
    pixel_data = ds.PixelData
    count = int(ds.get("NumberOfFrames") or 1)
    extended = "ExtendedOffsetTable" in ds
    frames, removed = [], 0
    try:
        for frame in generate_frames(
            pixel_data,
            number_of_frames=count,
            extended_offsets=(ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths) if extended else None,
        ):
            stripped, n = strip(frame)
            frames.append(stripped)
            removed += n
    except (ValueError, KeyError, struct.error) as exc:  # pydicom's encapsulation parser
        raise Rejected(f"cannot split the compressed pixel data into frames: {exc}") from None
    if len(frames) != count:
        raise Rejected(f"the compressed pixel data holds {len(frames)} frames, the header says {count}")
    if not removed:
        return 0
    if extended:
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(frames)
    else:
        had_bot = bool(parse_basic_offsets(pixel_data))
        ds.PixelData = encapsulate(frames, has_bot=had_bot)
    ds["PixelData"].is_undefined_length = True
    return removed
