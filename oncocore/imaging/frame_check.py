"""The one check every compressed frame passes before it is decoded: does its codestream match the header?

:func:`~.dicom_io.read_geometry` holds Rows x Columns to the pixel limit, but a
decoder allocates what the *codestream* declares. So before any frame is
decoded (intake rendering, the viewer's frame endpoint, the model's decoder,
try-outs, WADO-RS frames) its codestream header is read by
:mod:`.codestream` and the frame is refused, with the frame number and both
sizes, when it is not Rows x Columns with Samples per Pixel components, or
(RLE) when its segments are not one per sample byte or expand past the frame.
Native pixel data needs no such check (its length is checked against the
header), and Deflated datasets are inflated under a byte cap when read
(:func:`~.deflate.check_deflate_bomb`).
"""

from __future__ import annotations

from collections.abc import Iterator

from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames, get_frame
from pydicom.uid import (
    UID,
    JPEG2000TransferSyntaxes,
    JPEGLSTransferSyntaxes,
    JPEGTransferSyntaxes,
    RLELossless,
)

from .codestream import (
    CodestreamError,
    Dimensions,
    j2k_dimensions,
    jpeg_dimensions,
    rle_segment_exceeds,
    rle_segments,
)
from .dicom_io import Geometry, transfer_syntax_of
from .errors import Rejected
from .limits import Limits

__all__ = ["check_frames", "codestream_kind"]


def codestream_kind(ts: UID) -> str | None:
    """'JPEG', 'JPEG-LS', 'JPEG 2000' or 'RLE' for an encapsulated transfer syntax we can check; else None."""
    if ts in JPEGTransferSyntaxes:
        return "JPEG"
    if ts in JPEGLSTransferSyntaxes:
        return "JPEG-LS"
    if ts in JPEG2000TransferSyntaxes:  # HTJ2K included: same SIZ marker
        return "JPEG 2000"
    if ts == RLELossless:
        return "RLE"
    return None


def check_frames(ds: Dataset, geometry: Geometry, limits: Limits, *, index: int | None = None) -> None:
    """Refuse ``ds`` when a compressed frame would decode to something other than its header says.

    ``index`` (0-based) checks that one frame, the one about to be decoded;
    ``None`` checks every frame. Frames are split exactly as pydicom's decoders
    split them (Basic or Extended Offset Table, else fragments), so the bytes
    checked are the bytes decoded. Does nothing for native pixel data.

    Raises:
        Rejected: e.g. ``'frame 1: JPEG-LS codestream is 20000 x 20000, the
            header says 64 x 64 (over the 40-megapixel limit)'``.
    """
    ts = transfer_syntax_of(ds)
    if not ts.is_encapsulated:
        return
    kind = codestream_kind(ts)
    if kind is None:  # nothing decodes these here either; refuse rather than decode unchecked
        raise Rejected(f"unsupported transfer syntax: {ts.name or ts} (its frames cannot be checked)")
    elem = ds.data_element("PixelData")
    if elem is None or not elem.is_undefined_length:
        raise Rejected(f"pixel data is not encapsulated as {ts.name or ts} requires")
    for number, frame in _frames(ds, elem.value, geometry.frames, index):
        _check_frame(frame, number, kind, geometry, limits)


def _frames(ds: Dataset, buffer: bytes, count: int, index: int | None) -> Iterator[tuple[int, bytes]]:
    """(1-based number, bytes) of the frame at ``index``, or of every frame."""
    extended = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    try:
        if index is not None:
            yield index + 1, get_frame(buffer, index, number_of_frames=count, extended_offsets=extended)
            return
        for number, frame in enumerate(
            generate_frames(buffer, number_of_frames=count, extended_offsets=extended), start=1
        ):
            if number > count:  # pydicom decodes Number of Frames frames, no more
                return
            yield number, frame
    except (ValueError, IndexError, KeyError, TypeError) as exc:  # pydicom's reasons for bad fragments
        raise Rejected(f"cannot split the encapsulated pixel data into frames: {exc}") from None


def _check_frame(frame: bytes, number: int, kind: str, geometry: Geometry, limits: Limits) -> None:
    if kind == "RLE":
        _check_rle(frame, number, geometry)
        return
    try:
        found = jpeg_dimensions(frame) if kind in ("JPEG", "JPEG-LS") else [j2k_dimensions(frame)]
    except CodestreamError as exc:
        raise Rejected(f"frame {number}: {kind} codestream {exc}") from None
    for dims in found:
        _check_dimensions(dims, number, kind, geometry, limits)


def _check_dimensions(dims: Dimensions, number: int, kind: str, geometry: Geometry, limits: Limits) -> None:
    header = f"{geometry.cols} x {geometry.rows}"
    if (dims.cols, dims.rows) != (geometry.cols, geometry.rows):
        over = dims.cols * dims.rows > limits.max_pixels_per_frame
        suffix = f" (over the {limits.megapixel_text()} limit)" if over else ""
        raise Rejected(
            f"frame {number}: {kind} codestream is {dims.text()}, the header says {header}{suffix}"
        )
    if dims.components != geometry.samples_per_pixel:
        spp = geometry.samples_per_pixel
        raise Rejected(
            f"frame {number}: {kind} codestream has {dims.components} components, "
            f"the header says {spp} sample{'s' if spp > 1 else ''} per pixel"
        )


def _check_rle(frame: bytes, number: int, geometry: Geometry) -> None:
    """One segment per byte of each sample, none expanding past one plane (plus a byte per row of padding)."""
    try:
        segments = rle_segments(frame)
    except CodestreamError as exc:
        raise Rejected(f"frame {number}: RLE data {exc}") from None
    bytes_per_sample = (geometry.bits_allocated + 7) // 8
    needed = geometry.samples_per_pixel * bytes_per_sample
    if len(segments) != needed:
        raise Rejected(
            f"frame {number}: RLE data has {len(segments)} segments, the header's "
            f"{geometry.samples_per_pixel} x {geometry.bits_allocated}-bit samples need {needed}"
        )
    # A segment holds one byte per pixel. Some encoders pad each row, and pydicom accepts
    # (and truncates) a longer segment, so one extra byte per row is tolerated; more is a bomb.
    cap = geometry.rows * geometry.cols + geometry.rows
    for segment_number, segment in enumerate(segments, start=1):
        if rle_segment_exceeds(segment, cap):
            raise Rejected(
                f"frame {number}: RLE segment {segment_number} expands past the "
                f"{geometry.cols} x {geometry.rows} the header says"
            )
