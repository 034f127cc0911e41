"""Grad-CAM saliency maps and their PNG renderings.

Maps are computed with ``pytorch_grad_cam.GradCAM`` on the model input
(S x S, after letterbox/crop), then mapped back to the original image with the
:class:`~oncocore.preprocessing.Geometry` that preprocessing returned.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from functools import lru_cache
from typing import Literal, overload

import numpy as np
import torch
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from .preprocessing import Geometry

__all__ = ["cam_to_original", "cam_to_png16", "gradcam", "overlay_png", "png16_to_cam"]


@overload
def gradcam(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layer: nn.Module,
    class_indices: Sequence[int] | None = None,
    *,
    return_logits: Literal[False] = False,
) -> np.ndarray: ...


@overload
def gradcam(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layer: nn.Module,
    class_indices: Sequence[int] | None = None,
    *,
    return_logits: Literal[True],
) -> tuple[np.ndarray, torch.Tensor]: ...


def gradcam(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layer: nn.Module,
    class_indices: Sequence[int] | None = None,
    *,
    return_logits: bool = False,
) -> np.ndarray | tuple[np.ndarray, torch.Tensor]:
    """Grad-CAM for a batch.

    Safe to call from inside ``torch.inference_mode()`` / ``torch.no_grad()``
    and under autocast: it re-enables autograd locally, clones the input out of
    inference mode and runs the model in float32 (grad-cam converts
    activations to numpy, which has no bfloat16).

    Args:
        model: Classifier, in eval mode, whose parameters require grad.
        inputs: Preprocessed batch, float32 (B, C, H, W), on the model's device.
        target_layer: Module whose (B, K, h, w) output is weighted (see
            ``oncocore.nets.gradcam_target_layer``).
        class_indices: Class to explain for each image; default: the argmax.
        return_logits: Also return the float32 (B, K) logits of the same
            forward pass, so a caller needs no separate forward.

    Returns:
        float32 (B, H, W), each map min-max scaled to [0, 1] (all zeros when
        the positive evidence is nil), at input resolution; with
        ``return_logits``, the pair (maps, logits).
    """
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be (B, C, H, W), got {tuple(inputs.shape)}")
    if class_indices is not None and len(class_indices) != inputs.shape[0]:
        raise ValueError("class_indices must have one entry per image")
    targets = None if class_indices is None else [ClassifierOutputTarget(int(i)) for i in class_indices]
    device_type = inputs.device.type
    with torch.inference_mode(False), torch.enable_grad():
        # A tensor created under inference_mode cannot enter autograd; a clone
        # made outside it can.
        x = inputs.detach().clone().float()
        autocast_off = (
            torch.autocast(device_type=device_type, enabled=False)
            if device_type in ("cuda", "cpu", "mps")
            else contextlib.nullcontext()
        )
        cam = GradCAM(model=model, target_layers=[target_layer])
        try:
            with autocast_off:
                maps = cam(input_tensor=x, targets=targets)  # (B, H, W)
            logits = cam.outputs.detach().float()  # (B, K), the pass that made the maps
        finally:
            # Not used as a context manager: GradCAM.__exit__ swallows IndexError.
            cam.activations_and_grads.release()
            model.zero_grad(set_to_none=True)  # free the parameter gradients
    maps = np.clip(
        np.nan_to_num(np.asarray(maps, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0
    )
    # grad-cam divides by (max + 1e-7), which leaves weak but real maps well
    # below 1; rescale so every non-empty map peaks at exactly 1.
    peak = maps.reshape(maps.shape[0], -1).max(axis=1)[:, None, None]  # (B, 1, 1)
    maps = np.where(peak > 0, maps / np.maximum(peak, 1e-30), 0.0).astype(np.float32)
    return (maps, logits) if return_logits else maps


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
    out[ctop:cbottom, cleft:cright] = _resize_float(
        cam[top:bottom, left:right], cbottom - ctop, cright - cleft
    )
    return np.clip(out, 0.0, 1.0)


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
