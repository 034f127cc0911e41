"""Decode DICOM frames with pydicom's pixel-data plugins and render them for display.

Per frame: decode (YBR converted to RGB by pydicom), palette colour -> RGB,
modality LUT or rescale (per frame for enhanced multi-frame objects), VOI LUT
when the file has one, then the display window chosen on the middle frame.
Frames are decoded one at a time so memory stays at about one frame.
"""

from __future__ import annotations

from collections import abc
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, iter_pixels, pixel_array

from . import decoder_log, gdcm_jpeg12
from .dicom_io import Geometry, check_is_image, read_dataset, read_geometry, transfer_syntax_of
from .errors import Rejected, one_line
from .frame_check import check_frames
from .limits import Limits
from .render import choose_window, png_bytes, render_frame, thumbnail_png

gdcm_jpeg12.register()
# After every plugin is registered: a plugin that fails before another decodes the frame, and
# what pydicom tolerates while reading, go to the debug log instead of stderr.
decoder_log.install()

_COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420", "PALETTE COLOR")


@dataclass
class Rendered:
    display_pngs: list[bytes]
    thumbnail_png: bytes
    window: tuple[float, float] | None
    warnings: list[str] = field(default_factory=list)


def _functional_item(ds: Dataset, index: int, sequence: str) -> Dataset | None:
    """``sequence``'s first item for frame ``index``: per-frame groups first, then shared groups."""
    for groups_kw, item_index in (
        ("PerFrameFunctionalGroupsSequence", index),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        groups = ds.get(groups_kw)
        if groups and len(groups) > item_index:
            inner = groups[item_index].get(sequence)
            if inner:
                return inner[0]
    return None


def _first_number(value: object) -> float | None:
    if isinstance(value, abc.Sequence) and not isinstance(value, (str, bytes)):
        value = value[0] if len(value) else None  # multi-valued: the first value applies
    if value is None or value == "":
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _rescale(ds: Dataset, index: int) -> tuple[float, float] | None:
    item = _functional_item(ds, index, "PixelValueTransformationSequence")
    for source in (item, ds):
        if source is not None and "RescaleSlope" in source and "RescaleIntercept" in source:
            slope, intercept = _first_number(source.RescaleSlope), _first_number(source.RescaleIntercept)
            if slope is not None and intercept is not None:
                return slope, intercept
    return None


def file_window(ds: Dataset, index: int) -> tuple[float, float] | None:
    """The file's first Window Center/Width for frame ``index`` (frame VOI, else top level)."""
    item = _functional_item(ds, index, "FrameVOILUTSequence")
    for source in (item, ds):
        if source is not None and "WindowCenter" in source and "WindowWidth" in source:
            center, width = _first_number(source.WindowCenter), _first_number(source.WindowWidth)
            if center is not None and width is not None and width > 0:
                return center, width
    return None


def display_photometric(ds: Dataset, geometry: Geometry) -> str:
    """How decoded frames should be displayed: 'RGB', 'MONOCHROME1' or 'MONOCHROME2'."""
    if geometry.samples_per_pixel == 3 or geometry.photometric in _COLOUR:
        return "RGB"
    inverse = str(ds.get("PresentationLUTShape", "") or "").strip().upper() == "INVERSE"
    mono1 = geometry.photometric == "MONOCHROME1"
    return "MONOCHROME1" if mono1 != inverse else "MONOCHROME2"


def modality_values(raw: np.ndarray, ds: Dataset, geometry: Geometry, index: int) -> np.ndarray:
    """Decoded frame -> values to display: RGB for colour, modality (e.g. HU) values for grey."""
    if geometry.photometric == "PALETTE COLOR":
        return apply_color_lut(raw, ds)
    if raw.ndim == 3:
        return raw
    if "ModalityLUTSequence" in ds:
        values = apply_modality_lut(raw, ds)
    else:
        rescale = _rescale(ds, index)
        if rescale is not None and rescale != (1.0, 0.0):
            values = raw.astype(np.float32) * np.float32(rescale[0]) + np.float32(rescale[1])
        else:
            values = raw
    if "VOILUTSequence" in ds and file_window(ds, index) is None:
        # A VOI LUT maps stored/modality values to display values; apply it, then stretch.
        values = apply_voi(np.rint(values).astype(np.int64) if values.dtype.kind == "f" else values, ds)
    return values


# When every plugin fails, whose message to show: the codec libraries say what is wrong
# with the stream; GDCM's Python wrapper often only reports a None buffer, and Pillow
# misreads garbage headers as huge images.
_PLUGIN_PREFERENCE = ("pylibjpeg", "pyjpegls", "gdcm", "pillow")


def decode_error(exc: BaseException, ts_name: str) -> Rejected:
    """A readable rejection for a decoding failure (one useful line only)."""
    text = str(exc)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if text.startswith("Unable to decode") and len(lines) > 1:
        by_plugin = {ln.split(":", 1)[0]: ln for ln in lines[1:]}
        detail = next((by_plugin[p] for p in _PLUGIN_PREFERENCE if p in by_plugin), lines[1])
    elif "less than expected" in text:
        detail = text
    else:
        detail = lines[0] if lines else "the decoder gave no reason"
    return Rejected(f"could not decode pixel data ({ts_name}): {one_line(detail, 200)}")


def decode_frame(ds: Dataset, geometry: Geometry, index: int, limits: Limits) -> np.ndarray:
    """Decode frame ``index`` of ``ds`` and apply the modality LUT (grey) or return RGB (colour).

    The frame's codestream is checked against the header first (:func:`.frame_check.check_frames`).

    Raises:
        Rejected: The codestream disagrees with the header, or the pixel data
            cannot be decoded, with the plugin's reason.
    """
    ts = transfer_syntax_of(ds)
    if "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta.TransferSyntaxUID = ts  # files without meta: as parsed
    check_frames(ds, geometry, limits, index=index)
    try:
        raw = pixel_array(ds, index=index) if geometry.frames > 1 else pixel_array(ds)
        return modality_values(raw, ds, geometry, index)
    except Rejected:
        raise
    except Exception as exc:  # the plugins raise many types for bad streams
        raise decode_error(exc, ts.name or str(ts)) from None


def frame_values(
    data: bytes, *, frame: int | None = None, limits: Limits | None = None
) -> tuple[np.ndarray, str, str]:
    """One frame of a DICOM file as ``(values, photometric, modality)``; ``frame=None`` is the middle one.

    Grey frames carry modality values (Hounsfield units for CT), colour frames
    RGB. ``photometric`` is how to display the values: MONOCHROME1 (invert),
    MONOCHROME2 or RGB. The same decoding the intake renders with, for callers
    that need the numbers (the inference worker, the CLI try-out).

    Raises:
        Rejected: Not a decodable DICOM image, with the reason.
    """
    limits = limits or Limits()
    ds = read_dataset(data, limits)
    check_is_image(ds)
    geometry = read_geometry(ds, limits)
    index = geometry.frames // 2 if frame is None else min(max(frame, 0), geometry.frames - 1)
    values = decode_frame(ds, geometry, index, limits)
    photometric = "RGB" if values.ndim == 3 else display_photometric(ds, geometry)
    return values, photometric, str(ds.get("Modality", "") or "").upper()


def _frames(ds: Dataset, geometry: Geometry) -> Iterator[np.ndarray]:
    """Decoded frames one at a time, always 2-D (grey) or 3-D (colour)."""
    if geometry.frames == 1:
        # iter_pixels of a single frame is fine too; pixel_array avoids a generator round trip.
        yield pixel_array(ds)
    else:
        yield from iter_pixels(ds)


def render_dicom(
    ds: Dataset, geometry: Geometry, limits: Limits, *, modality: str, body_part: str, ts_name: str
) -> Rendered:
    """Decode and render every frame; the window is chosen once, on the middle frame.

    Every frame's codestream is checked against the header before the first is decoded.
    """
    check_frames(ds, geometry, limits)
    photometric = display_photometric(ds, geometry)
    middle = geometry.frames // 2
    pngs: list[bytes] = []
    thumb_source: np.ndarray | None = None
    window: tuple[float, float] | None = None
    try:
        for index, raw in enumerate(_frames(ds, geometry)):
            _check_shape(raw, geometry)
            values = modality_values(raw, ds, geometry, index)
            if index == 0:
                seed = values if geometry.frames == 1 else None
                window = _display_window(ds, geometry, photometric, modality, body_part, seed)
            frame_window = None
            if photometric != "RGB":
                # Enhanced objects may carry a window per frame; otherwise the chosen one.
                frame_window = file_window(ds, index) or window
            img = render_frame(values, window=frame_window, photometric=photometric)
            pngs.append(png_bytes(img, max_px=limits.display_max_px))
            if index == middle:
                thumb_source = img
    except Rejected:
        raise
    except MemoryError:
        raise Rejected("image too large to decode in memory") from None
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        # Plugins raise RuntimeError, ValueError, ...; Rust codecs (pylibjpeg-rle, via
        # pyo3) raise PanicException on corrupt input, which is a BaseException.
        raise decode_error(exc, ts_name) from None
    if len(pngs) != geometry.frames or thumb_source is None:
        raise Rejected(f"pixel data holds {len(pngs)} of {geometry.frames} frames")
    return Rendered(pngs, thumbnail_png(thumb_source, limits.thumbnail_px), window)


def _display_window(
    ds: Dataset, geometry: Geometry, photometric: str, modality: str, body_part: str, seed: np.ndarray | None
) -> tuple[float, float] | None:
    """:func:`choose_window` on the middle frame (``seed`` if already decoded)."""
    middle = geometry.frames // 2
    if seed is None:
        seed = modality_values(pixel_array(ds, index=middle), ds, geometry, middle)
    voi_lut_applied = "VOILUTSequence" in ds and file_window(ds, middle) is None
    return choose_window(
        seed,
        # After a VOI LUT the values are display values, not HU: no CT preset then.
        modality="" if voi_lut_applied else modality,
        body_part=body_part,
        file_window=file_window(ds, middle),
        photometric=photometric,
        bits_stored=geometry.bits_stored,
    )


def _check_shape(raw: np.ndarray, geometry: Geometry) -> None:
    if raw.shape[:2] != (geometry.rows, geometry.cols):
        raise Rejected(
            f"decoded frame is {raw.shape[1]}x{raw.shape[0]}, header says {geometry.cols}x{geometry.rows}"
        )
