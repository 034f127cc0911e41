"""One frame's values for the browser viewer, which windows them itself.

The viewer needs the numbers the display PNGs were rendered from, not 8-bit
pixels: modality values for grey frames (after the modality LUT or Rescale
Slope/Intercept, so Hounsfield units for CT), RGB for colour. They go over
the wire as little-endian rows of the smallest type that holds them exactly,
with a suggested window. Django-free, like the rest of this package.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from .dicom_io import check_is_image, read_dataset, read_geometry
from .dicom_pixels import decode_frame, display_photometric, file_window
from .errors import Rejected
from .limits import Limits
from .plain_image import _display_pixels
from .render import percentile_window, window_spanning

__all__ = ["FramePixels", "dicom_frame_pixels", "plain_image_pixels"]

_INT_TYPES = (np.dtype("<i2"), np.dtype("<u2"), np.dtype("<i4"))


@dataclass(frozen=True)
class FramePixels:
    """A frame ready to send: ``values`` is (rows, cols) grey or (rows, cols, samples) colour."""

    values: np.ndarray  # little-endian, one of uint8, int16, uint16, int32, float32
    photometric: str  # "MONOCHROME1" (invert for display), "MONOCHROME2" or "RGB"
    window: tuple[float, float]  # suggested (center, width); per channel for colour

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def cols(self) -> int:
        return int(self.values.shape[1])

    @property
    def samples(self) -> int:
        return 1 if self.values.ndim == 2 else int(self.values.shape[2])

    @property
    def dtype(self) -> str:
        """'uint8', 'int16', 'uint16', 'int32' or 'float32' (the JS typed array to read it with)."""
        return self.values.dtype.name

    def value_range(self) -> tuple[float, float]:
        """Smallest and largest finite value (0, 0 when there is none): the viewer scales its drag by it."""
        finite = self.values[np.isfinite(self.values)] if self.values.dtype.kind == "f" else self.values
        return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)

    def to_bytes(self) -> bytes:
        return np.ascontiguousarray(self.values).tobytes()


def dicom_frame_pixels(
    data: bytes, *, frame: int, stored_window: tuple[float, float] | None = None, limits: Limits | None = None
) -> FramePixels:
    """Frame ``frame`` (0-based) of a stored DICOM file, decoded as the intake rendered it.

    The suggested window is the frame's own VOI window, else ``stored_window``
    (the one the intake chose, e.g. a CT preset by body part), else automatic.

    Raises:
        Rejected: Not a decodable DICOM image, or no such frame.
    """
    limits = limits or Limits()
    ds = read_dataset(data, limits)
    check_is_image(ds)
    geometry = read_geometry(ds, limits)
    if not 0 <= frame < geometry.frames:
        raise Rejected(f"no frame {frame}: the image has {geometry.frames}")
    values = decode_frame(ds, geometry, frame, limits)
    if values.ndim == 3:
        return _colour(values)
    window = file_window(ds, frame) or stored_window
    return _grey(values, display_photometric(ds, geometry), window, geometry.bits_stored)


def plain_image_pixels(
    data: bytes, *, stored_window: tuple[float, float] | None = None, limits: Limits | None = None
) -> FramePixels:
    """The single frame of a stored plain image (JPEG, PNG), as the intake decoded it for display.

    Raises:
        Rejected: The stored bytes are not a readable image.
    """
    limits = limits or Limits()
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.size[0] * im.size[1] > limits.max_pixels_per_frame:
                raise Rejected(f"image is over the {limits.megapixel_text()} limit")
            im.load()
            pixels, bits = _display_pixels(im)
    except UnidentifiedImageError:
        raise Rejected("corrupt or unsupported image: the image data cannot be read") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise Rejected(f"corrupt or unsupported image: {exc}") from None
    if pixels.ndim == 3:
        return _colour(pixels)
    return _grey(pixels, "MONOCHROME2", stored_window, bits)


def _grey(
    values: np.ndarray, photometric: str, window: tuple[float, float] | None, bits_stored: int | None
) -> FramePixels:
    wire = _wire(values)
    if window is None or not (window[1] > 0 and all(map(math.isfinite, window))):
        if wire.dtype == np.uint8 and (bits_stored is None or bits_stored >= 8):
            window = window_spanning(0, 255)  # display-ready 8-bit data: shown as is
        else:
            window = percentile_window(wire)
    return FramePixels(wire, photometric, (float(window[0]), float(window[1])))


def _colour(values: np.ndarray) -> FramePixels:
    """RGB; the window spans the bit depth, so the default view matches the display PNG."""
    wire = _wire(values)
    if wire.dtype == np.uint8:
        top = 255.0
    elif wire.dtype.kind == "f":
        top = float(np.nanmax(wire)) if wire.size else 1.0
    else:
        peak = int(wire.max()) if wire.size else 0
        top = 255.0 if peak <= 255 else float(2 ** math.ceil(math.log2(peak + 1)) - 1)
    return FramePixels(wire, "RGB", window_spanning(0.0, max(top, 1.0)))


def _wire(values: np.ndarray) -> np.ndarray:
    """``values`` as the smallest little-endian type that holds them exactly (float32 when none does)."""
    if values.dtype == np.uint8 or values.dtype == np.bool_:
        return values.astype("<u1", copy=False)
    if values.dtype.kind == "f":
        finite = bool(np.isfinite(values).all())
        if not finite or not np.array_equal(values, np.rint(values)):
            return values.astype("<f4", copy=False)
    elif values.dtype.kind not in "iu":
        return values.astype("<f4")
    if values.size == 0:
        return values.astype("<i2")
    lo, hi = values.min(), values.max()
    candidates = _INT_TYPES[1:] if values.dtype.kind == "u" else _INT_TYPES
    for dtype in candidates:
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return values.astype(dtype, copy=False)
    return values.astype("<f4")
