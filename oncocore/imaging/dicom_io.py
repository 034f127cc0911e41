"""Read, validate and write DICOM Part 10 files (no pixel decoding here).

Everything that can be decided from the header is decided here, before a single
pixel is decoded: is it DICOM at all, does it carry an image, are the UIDs
there, is the geometry sane and within limits, is the transfer syntax one we
can decode, is native pixel data complete.
"""

from __future__ import annotations

import io
import logging
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import get_decoder
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from .deflate import check_deflate_bomb
from .errors import Rejected, file_value
from .limits import Limits

logger = logging.getLogger(__name__)

MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"  # DICOMDIR
PIXEL_DATA_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
IMPLEMENTATION_VERSION_NAME = "ONCOPORTAL_1"
_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# Explicit VRs, to recognise a bare (no preamble, no meta) dataset by its first element.
_VRS = {
    b"AE",
    b"AS",
    b"AT",
    b"CS",
    b"DA",
    b"DS",
    b"DT",
    b"FD",
    b"FL",
    b"IS",
    b"LO",
    b"LT",
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"PN",
    b"SH",
    b"SL",
    b"SQ",
    b"SS",
    b"ST",
    b"SV",
    b"TM",
    b"UC",
    b"UI",
    b"UL",
    b"UN",
    b"UR",
    b"US",
    b"UT",
    b"UV",
}


def has_dicom_preamble(data: bytes) -> bool:
    """True for a standard Part 10 file: 128-byte preamble then 'DICM'."""
    return len(data) >= 132 and data[128:132] == b"DICM"


def looks_like_bare_dataset(data: bytes) -> bool:
    """True if ``data`` plausibly starts with a DICOM data element (file without preamble/meta).

    The first element must be in group 0002 (meta without preamble) or 0008
    (where every composite dataset starts), in either byte order, followed by a
    valid explicit VR or a plausible implicit-VR length. Text, images and other
    binaries fail this, so we never force-parse arbitrary bytes.
    """
    if len(data) < 16:
        return False
    for order in ("<", ">"):
        group, element = struct.unpack(order + "HH", data[:4])
        if group not in (0x0002, 0x0008) or element > 0x1000:
            continue
        if data[4:6] in _VRS:
            return True
        (length,) = struct.unpack(order + "I", data[4:8])
        if order == "<" and length < len(data):
            return True  # implicit VR is always little endian
    return False


_UNDEFINED_LENGTH = 0xFFFFFFFF


def read_dataset(data: bytes, limits: Limits) -> Dataset:
    """Parse ``data`` as DICOM; files without preamble/meta are read with ``force`` only if they look like one."""
    preamble = has_dicom_preamble(data)
    if not preamble and not looks_like_bare_dataset(data):
        raise Rejected("not a DICOM file or a supported image")
    if preamble:
        check_deflate_bomb(data, limits)
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=not preamble)
    except Exception:  # pydicom raises many types for corrupt headers
        logger.info("unreadable DICOM header", exc_info=True)
        raise Rejected("unreadable DICOM header: the file is damaged or truncated") from None
    if not preamble and not any(k in ds for k in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID")):
        raise Rejected("not a DICOM file or a supported image")
    return ds


def sop_class_name(ds: Dataset) -> str:
    """'CT Image Storage' etc.; the raw UID if unknown; 'unknown SOP class' if absent."""
    value = str(ds.get("SOPClassUID", "") or "").strip()
    if not value:
        meta = getattr(ds, "file_meta", None)
        value = str(meta.get("MediaStorageSOPClassUID", "") or "").strip() if meta is not None else ""
    if not value:
        return "unknown SOP class"
    return UID(value).name or value


def pixel_data_keyword(ds: Dataset) -> str | None:
    return next((k for k in PIXEL_DATA_KEYWORDS if k in ds), None)


def check_is_image(ds: Dataset) -> None:
    """Reject DICOMDIRs and objects without pixel data (RT, SR, waveforms, ...)."""
    sop_class = str(ds.get("SOPClassUID", "") or "").strip()
    if sop_class == MEDIA_STORAGE_DIRECTORY or "DirectoryRecordSequence" in ds:
        raise Rejected("DICOMDIR index file skipped")
    if pixel_data_keyword(ds) is None:
        if len(ds) == 0:
            raise Rejected(
                f"corrupt or truncated DICOM file: no data elements could be read ({sop_class_name(ds)})"
            )
        raise Rejected(f"no pixel data ({sop_class_name(ds)}): only images can be ingested")


def check_uids(ds: Dataset) -> list[str]:
    """The identity the intake service keys on must be present; returns format warnings.

    Non-conformant but usable UIDs (e.g. leading zeros, hashes) are accepted with a
    warning, since refusing them would lock out real files; over-long or
    non-printable ones are refused because they cannot serve as keys.
    """
    needed = {
        "StudyInstanceUID": "Study Instance UID",
        "SeriesInstanceUID": "Series Instance UID",
        "SOPInstanceUID": "SOP Instance UID",
        "SOPClassUID": "SOP Class UID",
    }
    missing = [label for kw, label in needed.items() if not str(ds.get(kw, "") or "").strip()]
    if missing:
        raise Rejected(f"missing required UID{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
    warnings = []
    for kw, label in needed.items():
        value = str(ds.get(kw)).strip().rstrip("\x00")
        if len(value) > 64 or not value.isprintable() or not value.isascii():
            raise Rejected(
                f"invalid {label}: {file_value(value)} is not a UID (over 64 characters, or not plain text)"
            )
        if not _UID_RE.match(value):
            warnings.append(f"{label} is not a valid DICOM UID: {value}")
    return warnings


@dataclass(frozen=True)
class Geometry:
    """The Image Pixel module values that drive decoding and the limits."""

    rows: int
    cols: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric: str


def _int_attr(ds: Dataset, keyword: str, label: str, default: int | None = None) -> int:
    elem = ds.get(keyword)
    if elem is None or elem == "":
        if default is None:
            raise Rejected(f"missing required image attribute: {label}")
        return default
    try:
        return int(str(elem).strip())
    except (TypeError, ValueError):
        raise Rejected(
            f"invalid {label}: {file_value(getattr(elem, 'value', elem))} is not a whole number"
        ) from None


def read_geometry(ds: Dataset, limits: Limits) -> Geometry:
    """Validate the Image Pixel module and apply the size limits, from the header alone."""
    rows = _int_attr(ds, "Rows", "Rows")
    cols = _int_attr(ds, "Columns", "Columns")
    bits_allocated = _int_attr(ds, "BitsAllocated", "Bits Allocated", 32 if "FloatPixelData" in ds else None)
    if "DoubleFloatPixelData" in ds:
        bits_allocated = 64
    bits_stored = _int_attr(ds, "BitsStored", "Bits Stored", bits_allocated)
    spp = _int_attr(ds, "SamplesPerPixel", "Samples per Pixel", 1)
    frames = _int_attr(ds, "NumberOfFrames", "Number of Frames", 1)
    pixel_rep = _int_attr(ds, "PixelRepresentation", "Pixel Representation", 0)
    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip().upper()
    if not photometric:
        photometric = "MONOCHROME2" if spp == 1 else "RGB"
    if rows <= 0 or cols <= 0:
        raise Rejected(f"image has no pixels: {cols}x{rows}")
    if frames <= 0:
        raise Rejected(f"invalid Number of Frames: {frames}")
    if rows * cols > limits.max_pixels_per_frame:
        raise Rejected(f"image is {cols}x{rows}, over the {limits.megapixel_text()} limit")
    if frames > limits.max_frames:
        raise Rejected(f"{frames} frames, over the {limits.max_frames}-frame limit")
    if rows * cols * frames > limits.max_total_pixels:
        raise Rejected(
            f"{frames} frames of {cols}x{rows} is over the {limits.max_total_pixels:,}-pixel total limit"
        )
    if bits_allocated not in (1, 8, 16, 32, 64) or not 1 <= bits_stored <= bits_allocated:
        raise Rejected(f"unsupported bit depth: {bits_stored} bits stored in {bits_allocated}")
    if spp not in (1, 3):
        raise Rejected(f"unsupported Samples per Pixel: {spp}")
    return Geometry(rows, cols, frames, spp, bits_allocated, bits_stored, pixel_rep, photometric)


def transfer_syntax_of(ds: Dataset) -> UID:
    """The transfer syntax, derived from how the file was parsed when the file meta lacks it."""
    meta = getattr(ds, "file_meta", None)
    ts = str(meta.get("TransferSyntaxUID", "") or "").strip() if meta is not None else ""
    if ts:
        return UID(ts)
    keyword = pixel_data_keyword(ds)
    if keyword is not None:
        raw = ds.get_item(keyword)  # raw or converted element; both carry is_undefined_length
        if getattr(raw, "is_undefined_length", False):
            raise Rejected("pixel data is compressed but the file does not say how (no transfer syntax)")
    implicit, little = getattr(ds, "original_encoding", (None, None))
    if implicit is None:
        implicit, little = ds.is_implicit_VR, ds.is_little_endian
    if implicit and little:
        return ImplicitVRLittleEndian
    if not implicit and little:
        return ExplicitVRLittleEndian
    if not implicit and little is False:
        return ExplicitVRBigEndian
    raise Rejected("cannot tell the file's transfer syntax (no file meta)")


def check_decodable(ds: Dataset, ts: UID, geometry: Geometry) -> None:
    """Reject transfer syntaxes without an installed decoder, and incomplete native pixel data."""
    name = ts.name or str(ts)
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        kind = "video is not supported" if "MPEG" in name or "HEVC" in name else "no decoder for it"
        raise Rejected(f"unsupported transfer syntax: {name} ({kind})") from None
    if not decoder.is_available:
        raise Rejected(f"unsupported transfer syntax: {name} (no decoder installed)")
    if ts.is_compressed:
        return
    keyword = pixel_data_keyword(ds)
    if keyword is None:  # check_is_image rejects these first; a caller that skips it gets this
        raise Rejected("no pixel data")
    raw = ds.get_item(keyword)
    # The length the element declares, as read (pydicom reads a value cut short by the end of
    # the file without a word, and keeps it as long as it is).
    declared = raw.length if isinstance(raw, RawDataElement) else None
    actual = len(ds[keyword].value or b"")
    g = geometry
    samples = 2 if (g.photometric == "YBR_FULL_422" and g.samples_per_pixel == 3) else g.samples_per_pixel
    bits = g.rows * g.cols * samples * g.frames * g.bits_allocated
    expected = (bits + 7) // 8
    if actual < expected:
        raise Rejected(f"truncated pixel data: {actual} of {expected} bytes")
    if declared is not None and declared != _UNDEFINED_LENGTH and actual < declared:
        raise Rejected(
            f"truncated pixel data: the file ends {actual} bytes into a {declared}-byte Pixel Data element"
        )


def write_part10(ds: Dataset, ts: UID) -> bytes:
    """Serialise ``ds`` as a Part 10 file in transfer syntax ``ts`` with fresh file meta.

    The file meta is rebuilt rather than copied: the original may be missing,
    incomplete, or carry identifying values (source AE titles, private info).
    Pixel data bytes are written exactly as read.
    """
    # Convert every still-raw element first: raw elements are written back as read,
    # which is wrong when the file's dataset encoding contradicts its own meta (e.g. an
    # implicit-VR dataset under an explicit-VR transfer syntax has no VRs to write).
    for _ in ds.iterall():
        pass
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128
    buf = io.BytesIO()
    try:
        ds.save_as(buf, enforce_file_format=True)
    except Exception:
        logger.info("could not write the de-identified file", exc_info=True)
        raise Rejected(
            "could not write the de-identified file: a header value does not fit its DICOM type"
        ) from None
    return buf.getvalue()


# Header values that turn stored pixel values into real ones (Hounsfield units): a NaN or an
# infinity there makes every pixel NaN, which a model still scores ("benign 0.77").
_RESCALE = {"RescaleSlope": "Rescale Slope", "RescaleIntercept": "Rescale Intercept"}


def check_rescale(ds: Dataset) -> None:
    """Refuse a Rescale Slope or Intercept that is not a finite number (top level or any frame's).

    An unparsable value was already treated as absent by the renderer; a NaN or an
    infinity parses, so it is refused here, before decoding. A Window Center/Width that
    is not finite is display only: it is treated as absent (the renderer's own window).
    """
    sources = [ds]
    for groups_kw in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for group in ds.get(groups_kw) or []:
            sources += list(group.get("PixelValueTransformationSequence") or [])
    for source in sources:
        for keyword, label in _RESCALE.items():
            if keyword not in source:
                continue
            value = source[keyword].value
            values = (
                list(value)
                if isinstance(value, Sequence) and not isinstance(value, (str, bytes))
                else [value]
            )
            for item in values:
                try:
                    number = float(item)
                except (TypeError, ValueError):
                    continue
                if not math.isfinite(number):
                    raise Rejected(
                        f"invalid {label}: {file_value(item)} is not a finite number, so the "
                        "pixel values cannot be converted to real units"
                    )
