"""The single image preprocessing definition shared by training and serving.

Pipeline (deterministic, identical in both places)::

    load_image(source, channels)        -> uint8 (H, W) or (H, W, 3)
    prepare_uint8(array, spec)          -> uint8 (C, S, S) + Geometry   [stage A]
    normalize_uint8(x, spec)            -> float32 (..., C, S, S)       [stage B]
    preprocess(array, spec) == normalize_uint8(prepare_uint8(array, spec)[0], spec)

Training caches the stage-A uint8 tensors and inserts its random augmentations
between ``to_unit`` and ``normalize_unit`` (the two halves of stage B); its
evaluation path skips them, so an eval tensor is bitwise equal to the serving
tensor for the same image.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch
from PIL import Image, ImageOps

from .crop import foreground_box

ImageSource = str | Path | bytes | bytearray | BinaryIO
_RESIZE_MODES = ("letterbox", "resize")
_FOREGROUND_MODES = ("mass", "body", "lungs")
_INTENSITIES = ("display", "ct_window", "mr_percentile")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# One grey channel: those weighted like PIL's "L" (ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B).
IMAGENET_GREY_MEAN, IMAGENET_GREY_STD = (0.459,), (0.2256,)  # see docs/pretrained.md


def imagenet_stats(channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """ImageNet ``(mean, std)`` for 3 channels, their luma-weighted values for 1."""
    return (IMAGENET_MEAN, IMAGENET_STD) if channels == 3 else (IMAGENET_GREY_MEAN, IMAGENET_GREY_STD)


@dataclass(frozen=True)
class PreprocessSpec:
    """Everything needed to turn an image into a model input tensor.

    Attributes:
        input_size: Side S of the square model input.
        channels: 1 (grayscale) or 3 (RGB).
        resize_mode: ``"letterbox"`` keeps the aspect ratio and pads with zeros
            (black); ``"resize"`` stretches to S x S.
        crop_foreground: Crop to the bounding box of pixels brighter than
            ``foreground_threshold`` before resizing (MR: the head, not the air).
        foreground_mode: ``"mass"``: the box holding 99 % of the bright pixels;
            ``"body"``: the box of the largest connected bright region after an
            opening, which leaves out separate objects such as the CT table;
            ``"lungs"``: the box of the lung fields (the dark regions the body
            encloses), so a chest CT model sees the lungs at full size and
            less of the spine and the table; the body's box when none is found.
        foreground_threshold: Threshold as a fraction of full scale (0..1).
        foreground_margin: Margin added around the box, fraction of its long side.
        intensity: ``"display"`` for 8-bit display images (scaled to [0, 1]);
            ``"ct_window"`` for raw CT in Hounsfield units (window below);
            ``"mr_percentile"`` for raw MR (clip to percentiles, rescale).
        window_center: CT window centre in HU (default: lung window).
        window_width: CT window width in HU.
        percentile_low: Lower MR clipping percentile.
        percentile_high: Upper MR clipping percentile.
        mean: Per-channel mean subtracted after scaling to [0, 1].
        std: Per-channel standard deviation divided by after subtraction.
        version: Schema version of this record.
    """

    input_size: int = 224
    channels: int = 1
    resize_mode: str = "letterbox"
    crop_foreground: bool = False
    foreground_mode: str = "mass"
    foreground_threshold: float = 0.06
    foreground_margin: float = 0.02
    intensity: str = "display"
    window_center: float = -600.0
    window_width: float = 1500.0
    percentile_low: float = 0.5
    percentile_high: float = 99.5
    mean: tuple[float, ...] = (0.5,)
    std: tuple[float, ...] = (0.25,)
    version: int = 1

    def __post_init__(self) -> None:
        # Accept lists (from JSON) but store tuples so the spec stays hashable.
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        problems = []
        if not isinstance(self.input_size, int) or not 8 <= self.input_size <= 4096:
            problems.append(f"input_size must be an int in [8, 4096], got {self.input_size!r}")
        if self.channels not in (1, 3):
            problems.append(f"channels must be 1 or 3, got {self.channels!r}")
        if self.resize_mode not in _RESIZE_MODES:
            problems.append(f"resize_mode must be one of {_RESIZE_MODES}, got {self.resize_mode!r}")
        if self.foreground_mode not in _FOREGROUND_MODES:
            problems.append(
                f"foreground_mode must be one of {_FOREGROUND_MODES}, got {self.foreground_mode!r}"
            )
        if self.intensity not in _INTENSITIES:
            problems.append(f"intensity must be one of {_INTENSITIES}, got {self.intensity!r}")
        if not 0.0 <= self.foreground_threshold < 1.0 or not 0.0 <= self.foreground_margin <= 1.0:
            problems.append("foreground_threshold must be in [0, 1) and foreground_margin in [0, 1]")
        if self.window_width <= 0 or not 0 <= self.percentile_low < self.percentile_high <= 100:
            problems.append("window_width must be > 0 and 0 <= percentile_low < percentile_high <= 100")
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            problems.append(f"mean and std need {self.channels} value(s), got {self.mean} / {self.std}")
        if any(s <= 0 for s in self.std):
            problems.append("std values must be > 0")
        if problems:
            raise ValueError("invalid PreprocessSpec: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict; ``from_dict(to_dict())`` round-trips exactly."""
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSpec:
        """Build from a dict, rejecting unknown keys with a ValueError."""
        if not isinstance(data, dict):
            raise ValueError(f"preprocessing must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown preprocessing key(s): {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def imagenet(cls, input_size: int = 224, channels: int = 3, **options: Any) -> PreprocessSpec:
        """A spec normalised like ImageNet training (nets starting from ImageNet weights).

        A 1-channel spec gets the grey statistics; the net's summed stem kernels
        then see what the RGB net sees on the grey image repeated in 3 channels.
        """
        mean, std = imagenet_stats(channels)
        return cls(input_size=input_size, channels=channels, mean=mean, std=std, **options)

    def with_imagenet_stats(self) -> PreprocessSpec:
        """This spec with ImageNet normalisation (see :meth:`imagenet`), all else unchanged."""
        mean, std = imagenet_stats(self.channels)
        return replace(self, mean=mean, std=std)

    @classmethod
    def for_task(cls, task: str, input_size: int = 224) -> PreprocessSpec:
        """Default spec for the shipped tasks (8-bit JPEG training data).

        brain_mri: grayscale, crop to the head, letterbox. lung_ct: grayscale,
        crop to the patient's body (a model trained on whole slices looked at
        the scanner table: a shortcut), letterbox. histo_lung: RGB tiles, plain
        resize, ImageNet statistics ("histology" is accepted as an alias).
        Unknown tasks get a grayscale letterbox.
        """
        if task in ("histo_lung", "histology"):
            return cls(
                input_size=input_size, channels=3, resize_mode="resize", mean=IMAGENET_MEAN, std=IMAGENET_STD
            )
        if task == "lung_ct":
            return cls(input_size=input_size, channels=1, crop_foreground=True, foreground_mode="body")
        return cls(input_size=input_size, channels=1, crop_foreground=(task == "brain_mri"))


@dataclass(frozen=True)
class Geometry:
    """How a model-input pixel maps back to the original image.

    Boxes are ``(top, left, bottom, right)`` with exclusive ends.

    Attributes:
        original_hw: (H, W) of the array given to :func:`prepare_uint8`.
        crop_box: Region of the original kept by the foreground crop.
        content_box: Where that region landed in the S x S model input.
        input_size: S.
    """

    original_hw: tuple[int, int]
    crop_box: tuple[int, int, int, int]
    content_box: tuple[int, int, int, int]
    input_size: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Geometry:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tuple(d["original_hw"]),
            tuple(d["crop_box"]),
            tuple(d["content_box"]),
            int(d["input_size"]),
        )


def load_image(source: ImageSource, channels: int | PreprocessSpec = 3) -> np.ndarray:
    """Decode an image file into a uint8 array (EXIF orientation applied).

    Args:
        source: Path, raw bytes, or a binary file object.
        channels: 1, 3, or a spec whose ``channels`` is used.

    Returns:
        uint8 (H, W) for one channel, uint8 (H, W, 3) for three. 16-bit and
        float images are percentile-scaled to 8 bits (PIL would clip them).

    Raises:
        ValueError: If the data cannot be decoded as an image.
    """
    ch = channels.channels if isinstance(channels, PreprocessSpec) else int(channels)
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    try:
        with Image.open(source) as opened:
            if ch == 1 and opened.format == "JPEG" and opened.mode in ("RGB", "YCbCr"):
                # Decode the JPEG's own luma (libjpeg skips chroma upsampling and
                # colour conversion: about 40 % less decode time). For grey content,
                # which every 1-channel training image is, that is bit-identical to
                # RGB -> "L" (tests/oncocore/test_preprocessing.py checks it on the
                # seed data); for a colour photo it is the encoder's luma, within a
                # few grey levels of PIL's conversion of the decoded RGB.
                opened.draft("L", opened.size)
            img = ImageOps.exif_transpose(opened)
            if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                img = Image.fromarray(to_uint8_display(np.asarray(img)))
            img = img.convert("L" if ch == 1 else "RGB")
            return np.array(img, dtype=np.uint8)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"cannot decode image: {exc}") from exc


def _unit_to_uint8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def to_uint8_display(
    array: np.ndarray,
    *,
    window: tuple[float, float] | None = None,
    percentiles: tuple[float, float] = (0.5, 99.5),
) -> np.ndarray:
    """Convert a raw pixel array (e.g. DICOM) to an 8-bit display image.

    Args:
        array: (H, W) or (H, W, 3) array of any numeric dtype.
        window: Optional ``(center, width)``, e.g. a CT window in HU. Without it
            the values are clipped to ``percentiles`` and rescaled.
        percentiles: (low, high) percentiles used when ``window`` is None.

    Returns:
        uint8 array with the same shape.
    """
    x = np.nan_to_num(np.asarray(array, dtype=np.float64))  # NaN in float images would poison percentiles
    if window is not None:
        center, width = window
        return _unit_to_uint8((x - (center - width / 2.0)) / width)
    lo, hi = np.percentile(x, percentiles)
    return _unit_to_uint8((x - lo) / (hi - lo)) if hi > lo else np.zeros(x.shape, np.uint8)


def _to_uint8(array: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Intensity handling: any input -> uint8 (H, W) or (H, W, 3)."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[..., :3]  # drop alpha
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3) or min(a.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {a.shape}")
    if spec.intensity == "display":
        if a.dtype == np.bool_:
            return a.astype(np.uint8) * 255
        if a.dtype != np.uint8:
            raise ValueError(
                f"'display' specs expect uint8 images, got {a.dtype}; convert raw "
                "pixel data with to_uint8_display() first"
            )
        return a
    if spec.intensity == "ct_window":
        if a.dtype == np.uint8:
            raise ValueError("'ct_window' specs expect raw Hounsfield units, got an 8-bit image")
        return to_uint8_display(a, window=(spec.window_center, spec.window_width))
    return to_uint8_display(a, percentiles=(spec.percentile_low, spec.percentile_high))


def prepare_uint8(array: np.ndarray, spec: PreprocessSpec) -> tuple[torch.Tensor, Geometry]:
    """Stage A: intensity, channels, foreground crop and resize, kept in uint8.

    Args:
        array: (H, W) or (H, W, 3[/4]) image; uint8 for ``display`` specs, raw
            values for ``ct_window`` / ``mr_percentile``.
        spec: The preprocessing definition.

    Returns:
        ``(x, geometry)`` with x a contiguous uint8 tensor (C, S, S).
    """
    u8 = _to_uint8(array, spec)  # (H, W) or (H, W, 3)
    img = Image.fromarray(u8)
    # Channel conversion through PIL so it matches load_image(..., 1) exactly.
    img = img.convert("L" if spec.channels == 1 else "RGB")
    h, w = u8.shape[:2]
    box = (0, 0, h, w)
    if spec.crop_foreground:
        gray = np.asarray(img if spec.channels == 1 else img.convert("L"))
        box = foreground_box(gray, spec.foreground_mode, spec.foreground_threshold, spec.foreground_margin)
        img = img.crop((box[1], box[0], box[3], box[2]))  # PIL wants (left, top, right, bottom)
    s = spec.input_size
    if spec.resize_mode == "resize":
        out, content = img.resize((s, s), Image.Resampling.BILINEAR), (0, 0, s, s)
    else:
        scale = s / max(img.width, img.height)
        nw, nh = max(1, round(img.width * scale)), max(1, round(img.height * scale))
        top, left = (s - nh) // 2, (s - nw) // 2
        out = Image.new(img.mode, (s, s), 0)
        out.paste(img.resize((nw, nh), Image.Resampling.BILINEAR), (left, top))
        content = (top, left, top + nh, left + nw)
    arr = np.array(out, dtype=np.uint8)  # (S, S) or (S, S, 3); a writable copy for torch
    arr = arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)  # (C, S, S)
    return torch.from_numpy(np.ascontiguousarray(arr)), Geometry((h, w), box, content, s)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 (..., C, H, W) -> float32 in [0, 1] (first half of stage B)."""
    return x.to(torch.float32) / 255.0


def normalize_unit(x: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """float [0, 1] (..., C, H, W) -> mean/std normalised (second half of stage B)."""
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    return (x - mean) / std


def normalize_uint8(x: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """Stage B: uint8 (..., C, H, W) -> normalised float32 (..., C, H, W), in x's memory format.

    The same arithmetic as ``normalize_unit(to_unit(x), spec)``, bit for bit, on one
    new tensor updated in place rather than a new tensor per step.
    """
    mean = torch.tensor(spec.mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    std = torch.tensor(spec.std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
    return x.to(torch.float32, copy=True).div_(255.0).sub_(mean).div_(std)


def preprocess_with_geometry(array: np.ndarray, spec: PreprocessSpec) -> tuple[torch.Tensor, Geometry]:
    """Like :func:`preprocess` but also returns the inverse-mapping record."""
    x, geometry = prepare_uint8(array, spec)
    return normalize_uint8(x, spec), geometry


def preprocess(array: np.ndarray, spec: PreprocessSpec) -> torch.Tensor:
    """Image array -> model input, float32 (C, S, S). See module docstring."""
    return preprocess_with_geometry(array, spec)[0]


def preprocess_batch(
    arrays: Sequence[np.ndarray], spec: PreprocessSpec
) -> tuple[torch.Tensor, list[Geometry]]:
    """Preprocess several images: returns float32 (B, C, S, S) and B geometries."""
    if len(arrays) == 0:
        raise ValueError("preprocess_batch needs at least one image")
    prepared = [prepare_uint8(a, spec) for a in arrays]
    batch = torch.stack([p[0] for p in prepared])  # (B, C, S, S) uint8
    return normalize_uint8(batch, spec), [p[1] for p in prepared]
