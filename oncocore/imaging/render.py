"""Turn decoded pixel values into 8-bit display images and PNG bytes.

Input frames are *modality values* (after the modality LUT / rescale, e.g. CT in
Hounsfield units) for monochrome images, or RGB for colour images. Windowing
uses the DICOM linear VOI function (PS3.3 C.11.2.1.2.1).
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from ..tasks import WINDOW_PRESETS, ct_preset_for_body_part

__all__ = ["PRESETS", "choose_window", "png_bytes", "render_frame", "thumbnail_png", "window_spanning"]

# name -> (center, width), in Hounsfield units: the task registry's CT presets,
# which the viewer offers too (oncocore/tasks.py holds the one definition).
PRESETS: dict[str, tuple[float, float]] = {f"ct_{p.key}": p.window for p in WINDOW_PRESETS}

_MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
_PERCENTILE_SAMPLE = 1_000_000  # values used to estimate percentiles on big frames
_PNG_COMPRESS_LEVEL = 4  # display PNGs: a little larger, several times faster than 9


def window_spanning(lo: float, hi: float) -> tuple[float, float]:
    """The (center, width) whose linear VOI maps ``lo`` to black and ``hi`` to white exactly."""
    hi = max(hi, lo)
    return (lo + hi + 1) / 2.0, hi - lo + 1.0


def choose_window(
    frame: np.ndarray,
    *,
    modality: str | None,
    body_part: str | None,
    file_window: tuple[float, float] | None,
    photometric: str,
    bits_stored: int | None = None,
) -> tuple[float, float] | None:
    """Pick the display window for ``frame`` (modality values).

    1. The file's own VOI window (first value) if present and valid.
    2. CT: a preset by body part (CHEST/LUNG/THORAX -> lung, HEAD/BRAIN -> brain,
       anything else -> mediastinum/soft tissue).
    3. None for colour images and for 8-bit data that is already display-ready.
    4. Otherwise (MR, NM, 16-bit grey, ...) the 0.5-99.5 percentile range;
       data stored in fewer than 8 bits (e.g. binary segmentations) spans its full range.
    """
    if photometric.upper() not in _MONOCHROME:
        return None
    if file_window is not None and file_window[1] > 0 and all(map(math.isfinite, file_window)):
        return float(file_window[0]), float(file_window[1])
    if (modality or "").upper() == "CT":
        return ct_preset_for_body_part(body_part).window
    if bits_stored is not None and bits_stored < 8 and np.issubdtype(frame.dtype, np.integer):
        return window_spanning(0, 2**bits_stored - 1)
    if frame.dtype == np.uint8 and (bits_stored is None or bits_stored == 8):
        return None
    return percentile_window(frame)


def percentile_window(frame: np.ndarray, low: float = 0.5, high: float = 99.5) -> tuple[float, float]:
    """Window covering the ``low``-``high`` percentile range (sampled on large frames)."""
    values = frame.reshape(-1)
    if values.size > _PERCENTILE_SAMPLE:
        values = values[:: values.size // _PERCENTILE_SAMPLE + 1]
    values = values[np.isfinite(values)] if np.issubdtype(values.dtype, np.floating) else values
    if values.size == 0:
        return window_spanning(0, 0)
    lo, hi = np.percentile(values, [low, high])
    return window_spanning(float(lo), float(hi))


def render_frame(frame: np.ndarray, *, window: tuple[float, float] | None, photometric: str) -> np.ndarray:
    """An 8-bit display image: (H, W) for grey, (H, W, 3) for colour.

    Grey frames go through the DICOM linear VOI function with ``window``
    (``None`` means: uint8 data as is, anything else stretched min..max), and
    MONOCHROME1 is inverted so that it displays like MONOCHROME2. Colour
    frames deeper than 8 bits are scaled by their bit depth.
    """
    if frame.ndim == 3:
        return _colour_to_uint8(frame)
    if frame.ndim != 2:
        raise ValueError(f"expected a 2-D grey or 3-D colour frame, got shape {frame.shape}")
    if window is None:
        if frame.dtype == np.uint8:
            out = frame.copy()
        else:
            finite = frame[np.isfinite(frame)] if np.issubdtype(frame.dtype, np.floating) else frame
            lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
            out = _linear_voi(frame, *window_spanning(lo, hi))
    else:
        out = _linear_voi(frame, *window)
    if photometric.upper() == "MONOCHROME1":
        np.subtract(255, out, out=out)
    return out


def _linear_voi(frame: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1: y = ((x - (c - 0.5)) / (w - 1) + 0.5) scaled to 0..255, clipped."""
    x = frame.astype(np.float32, copy=False)
    if width <= 1:
        return np.where(x > center - 0.5, 255, 0).astype(np.uint8)
    y = (x - np.float32(center - 0.5)) / np.float32(width - 1) + np.float32(0.5)
    np.clip(y, 0.0, 1.0, out=y)
    y *= 255.0
    return np.rint(np.nan_to_num(y, copy=False)).astype(np.uint8)


def _colour_to_uint8(frame: np.ndarray) -> np.ndarray:
    if frame.dtype == np.uint8:
        return np.ascontiguousarray(frame)
    if np.issubdtype(frame.dtype, np.floating):
        top = float(np.nanmax(frame)) if frame.size else 1.0
        scale = 255.0 / (top if top > 0 else 1.0)
    else:
        top = int(frame.max()) if frame.size else 0
        if top <= 255:
            return frame.astype(np.uint8)
        scale = 255.0 / (2 ** math.ceil(math.log2(top + 1)) - 1)
    return np.clip(np.rint(frame.astype(np.float32) * scale), 0, 255).astype(np.uint8)


def _to_pil(img: np.ndarray) -> Image.Image:
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f"expected uint8 (H,W) or (H,W,3), got {img.dtype} {img.shape}")
    return Image.fromarray(np.ascontiguousarray(img), mode="L" if img.ndim == 2 else "RGB")


def _encode_png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=_PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def png_bytes(img: np.ndarray, *, max_px: int | None = None) -> bytes:
    """PNG of an 8-bit image, downscaled (keeping aspect) so its longest side is at most ``max_px``."""
    im = _to_pil(img)
    if max_px is not None and max(im.size) > max_px:
        im.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    return _encode_png(im)


def thumbnail_png(img: np.ndarray, px: int) -> bytes:
    """PNG whose longest side is exactly ``px`` (aspect kept): smaller images are enlarged too."""
    im = _to_pil(img)
    w, h = im.size
    scale = px / max(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size != im.size:
        resample = Image.Resampling.LANCZOS if scale < 1 else Image.Resampling.NEAREST
        im = im.resize(size, resample)
    return _encode_png(im)
