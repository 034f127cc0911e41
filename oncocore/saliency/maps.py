"""Saliency maps as stored (a few cells and their geometry), rendered at full resolution, and their PNGs."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

from ..preprocessing import Geometry


def rescale_to_input(cam: np.ndarray, input_size: int) -> np.ndarray:
    """A low-resolution map of one model upsampled to the S x S model input, as :func:`gradcam` gives it.

    Bilinear upsampling, then min-max scaling so the map peaks at exactly 1
    (all zeros stay zeros), which is what grad-cam and :func:`gradcam` do
    after their resize.
    """
    scale, offset = input_rescaling(cam, input_size)
    up = _resize_float(np.asarray(cam, dtype=np.float32), input_size, input_size)
    return (up * scale + offset).astype(np.float32)


def input_rescaling(cam: np.ndarray, input_size: int) -> tuple[float, float]:
    """``(scale, offset)`` of the min-max step :func:`rescale_to_input` applies after upsampling.

    Bilinear upsampling keeps constants and is linear, so ``scale * cam +
    offset``, upsampled, is the rescaled map: an ensemble adds its members'
    maps up at their own resolution this way and stays exact.
    """
    up = _resize_float(np.asarray(cam, dtype=np.float32), input_size, input_size)
    lo, hi = float(up.min()), float(up.max())
    if not hi > lo:
        return 0.0, 0.0
    return 1.0 / (hi - lo), -lo / (hi - lo)


@dataclass(frozen=True)
class SaliencyMap:
    """A Grad-CAM map as stored: a few cells, and how they map back onto the original image.

    Attributes:
        values: float32 (h, w); in [0, 1] for one model, any range for an
            ensemble's sum of rescaled member maps (the render clips).
        geometry: The preprocessing geometry of the model input the map is
            laid on; None when ``values`` already is the original image's map
            (an ensemble whose members were preprocessed differently).
        rescale: True for one model's map (upsampled to the input, then
            min-max scaled to peak at 1, as Grad-CAM does); False for an
            ensemble's weighted sum of members already rescaled (see
            :func:`input_rescaling`), which is upsampled as it is.
    """

    values: np.ndarray
    geometry: Geometry | None
    rescale: bool = True

    def render(self) -> np.ndarray:
        """The full-resolution float32 (H, W) map of the original image, in [0, 1]."""
        values = np.asarray(self.values, dtype=np.float32)
        if self.geometry is None:
            return np.clip(values, 0.0, 1.0)
        s = self.geometry.input_size
        up = rescale_to_input(values, s) if self.rescale else _resize_float(values, s, s)
        return cam_to_original(np.clip(up, 0.0, 1.0), self.geometry)

    def meta(self) -> dict[str, Any]:
        """JSON-serialisable description stored beside the PNG (:meth:`from_png16` reads it back)."""
        lo, hi = self._range()
        return {
            "shape": list(np.asarray(self.values).shape),
            "range": [lo, hi],
            "geometry": None if self.geometry is None else self.geometry.to_dict(),
            "rescale": self.rescale,
        }

    def to_png16(self) -> bytes:
        """The cells as a 16-bit gray PNG: 65535 steps over the ``range`` that :meth:`meta` records."""
        lo, hi = self._range()
        values = np.asarray(self.values, dtype=np.float64)
        return cam_to_png16((values - lo) / (hi - lo) if hi > lo else np.zeros_like(values))

    def _range(self) -> tuple[float, float]:
        values = np.nan_to_num(np.asarray(self.values, dtype=np.float64))
        lo, hi = min(0.0, float(values.min(initial=0.0))), max(1.0, float(values.max(initial=0.0)))
        return lo, hi

    @classmethod
    def from_png16(cls, data: bytes, meta: dict[str, Any]) -> SaliencyMap:
        """Inverse of :meth:`to_png16` + :meth:`meta`.

        Raises:
            ValueError: The PNG does not have the shape the description says.
        """
        values = png16_to_cam(data)
        if list(values.shape) != list(meta.get("shape", values.shape)):
            raise ValueError(f"saliency map is {values.shape}, its description says {meta['shape']}")
        lo, hi = meta.get("range", (0.0, 1.0))
        if (lo, hi) != (0.0, 1.0):
            values = (lo + values.astype(np.float64) * (hi - lo)).astype(np.float32)
        geometry = meta.get("geometry")
        return cls(values, None if geometry is None else Geometry.from_dict(geometry), bool(meta["rescale"]))


def _resize_float(a: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a float (h, w) map to (height, width)."""
    if a.shape == (height, width):
        return a.astype(np.float32, copy=True)
    img = Image.fromarray(np.ascontiguousarray(a, dtype=np.float32))  # mode "F"
    return np.asarray(img.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32).copy()


def cam_to_original(cam: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Map a model-input CAM back onto the original image.

    Inverts letterbox padding, resize and foreground crop: the padded border
    is dropped, the content is resized to the crop box and placed there;
    pixels outside the crop box (background the model never saw) get 0.

    Args:
        cam: float (S, S) map at model-input resolution (other sizes are first
            resized to S x S).
        geometry: Record returned by ``prepare_uint8`` / ``preprocess_with_geometry``.

    Returns:
        float32 (H, W) with (H, W) = ``geometry.original_hw``, values in [0, 1].
    """
    s = geometry.input_size
    cam = _resize_float(np.asarray(cam, dtype=np.float32), s, s)
    top, left, bottom, right = geometry.content_box
    ctop, cleft, cbottom, cright = geometry.crop_box
    out = np.zeros(geometry.original_hw, dtype=np.float32)
    inner = _resize_float(cam[top:bottom, left:right], cbottom - ctop, cright - cleft)
    h, w = geometry.original_hw
    cut = (ctop > 0, cbottom < h, cleft > 0, cright < w)
    if any(cut):  # no crop (or one as large as the image): nothing to fade, no full-size multiply
        inner *= _edge_ramp(cbottom - ctop, cright - cleft, cut)
    out[ctop:cbottom, cleft:cright] = inner
    return np.clip(out, 0.0, 1.0)


def _edge_ramp(height: int, width: int, cut: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """(height, width) weights rising from 0 at a crop box's cut edges to 1 at 1/16 of its side inside.

    The model saw nothing outside the crop box, so the map is 0 there; a coarse
    Grad-CAM cell cut off at the box's edge would otherwise draw the box as a
    hard line in the overlay. ``cut`` says which sides (top, bottom, left,
    right) lie inside the image; the image's own borders are left alone.
    """
    band = max(1.0, max(height, width) / 16.0)
    i, j = np.arange(height) + 0.5, np.arange(width) + 0.5
    far_i, far_j = np.full(height, band), np.full(width, band)
    ys = np.minimum(i if cut[0] else far_i, height - i if cut[1] else far_i) / band
    xs = np.minimum(j if cut[2] else far_j, width - j if cut[3] else far_j) / band
    return np.minimum(np.clip(ys, 0.0, 1.0)[:, None], np.clip(xs, 0.0, 1.0)[None, :]).astype(np.float32)


@lru_cache(maxsize=8)
def _colormap_lut(name: str) -> np.ndarray:
    """(256, 3) uint8 lookup table for a matplotlib colormap."""
    import matplotlib

    return (matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).round().astype(np.uint8)


def _encode_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # Level 1: these maps are written once per prediction on the hot path, and
    # zlib's default level costs several times the time for ~10 % smaller files.
    img.save(buf, format="PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def overlay_png(
    display_image: np.ndarray, cam: np.ndarray, alpha: float = 0.45, colormap: str = "turbo"
) -> bytes:
    """Blend a colour-mapped CAM over a display image and encode as PNG.

    Args:
        display_image: uint8 (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) image.
        cam: float map in [0, 1]; resized to (H, W) if its shape differs.
        alpha: Weight of the heat map, in [0, 1].
        colormap: Matplotlib colormap name (``"turbo"`` or ``"jet"``).

    Returns:
        RGB PNG bytes of size (H, W).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = np.asarray(display_image)
    if img.dtype != np.uint8:
        raise ValueError(f"display_image must be uint8, got {img.dtype}")
    if img.ndim == 3 and img.shape[2] in (1, 4):
        img = img[..., 0] if img.shape[2] == 1 else img[..., :3]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)  # (H, W, 3)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"display_image must be (H, W) or (H, W, 3), got {np.asarray(display_image).shape}")
    h, w = img.shape[:2]
    cam = np.clip(np.nan_to_num(_resize_float(np.asarray(cam, np.float32), h, w)), 0.0, 1.0)
    heat = _colormap_lut(colormap)[np.rint(cam * 255.0).astype(np.uint8)]  # (H, W, 3)
    # PIL blends in C, several times faster than float arithmetic in numpy.
    blend = Image.blend(
        Image.fromarray(np.ascontiguousarray(img), "RGB"), Image.fromarray(heat, "RGB"), alpha
    )
    return _encode_png(blend)


def cam_to_png16(cam: np.ndarray) -> bytes:
    """Encode a [0, 1] map losslessly enough (1/65535 steps) as 16-bit gray PNG."""
    a = np.asarray(cam, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"cam must be (H, W), got {a.shape}")
    u16 = np.rint(np.clip(np.nan_to_num(a), 0.0, 1.0) * 65535.0).astype(np.uint16)
    return _encode_png(Image.fromarray(u16))  # mode "I;16"


def png16_to_cam(data: bytes) -> np.ndarray:
    """Decode :func:`cam_to_png16` output back to float32 (H, W) in [0, 1]."""
    with Image.open(io.BytesIO(data)) as img:
        return (np.asarray(img, dtype=np.float64) / 65535.0).astype(np.float32)
