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
from .jpeg_markers import Walk, is_metadata, minimal_segment, segments

__all__ = ["JPEG_MARKER_SYNTAXES", "strip_frame_metadata", "strip_jpeg_frame"]

# JPEG processes (baseline to lossless, retired ones included) and JPEG-LS: one marker syntax.
JPEG_MARKER_SYNTAXES = frozenset(
    {f"1.2.840.10008.1.2.4.{n}" for n in range(50, 71)} | {"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"}
)

_FRAME_WALK = Walk(
    truncated="compressed frame is truncated in a marker segment",
    missing="compressed frame is truncated in a marker segment",
    stray="compressed frame has bytes between its marker segments",
    scan="compressed frame is truncated in its scan data",
    lenient_end=True,  # a frame may end without EOI and is padded to even length
)


def strip_jpeg_frame(frame: bytes) -> tuple[bytes, int]:
    """The frame without COM/APPn payloads, and how many segments were removed or cut.

    Raises:
        Rejected: The frame is not a JPEG codestream or a marker segment is truncated.
    """
    if frame[:2] != b"\xff\xd8":
        raise Rejected("compressed frame does not start with a JPEG SOI marker: cannot remove its metadata")
    out, removed = bytearray(b"\xff\xd8"), 0
    for seg in segments(frame, _FRAME_WALK):
        if is_metadata(seg.marker):
            kept = minimal_segment(seg.marker, seg.body)
            if kept is not None:
                out += kept
            removed += kept is None or len(kept) < len(seg.raw)
            continue
        out += seg.raw + seg.scan
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
