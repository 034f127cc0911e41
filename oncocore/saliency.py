"""Grad-CAM saliency maps and their PNG renderings.

The serving path computes Grad-CAM at the target layer's own resolution
(:func:`gradcam_lowres`: a 160 px ResNet gives a 5 x 5 map) and keeps it that
way, as a :class:`SaliencyMap` (the cells plus the preprocessing
:class:`~oncocore.preprocessing.Geometry`). :meth:`SaliencyMap.render` turns it
into the full-resolution map of the original image when someone looks at it,
the same map :func:`gradcam` + :func:`cam_to_original` give (upsample to the
model input, rescale, undo letterbox and crop).

:func:`gradcam` (``pytorch_grad_cam.GradCAM``, maps at the model input's
S x S) stays as the reference the low-resolution path is tested against.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, overload

import numpy as np
import torch
from PIL import Image
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from .preprocessing import Geometry

__all__ = [
    "SaliencyMap",
    "cam_to_original",
    "cam_to_png16",
    "gradcam",
    "gradcam_lowres",
    "input_rescaling",
    "overlay_png",
    "png16_to_cam",
    "rescale_to_input",
]


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


def gradcam_lowres(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layer: nn.Module,
    class_indices: Sequence[int] | None = None,
) -> tuple[np.ndarray, torch.Tensor]:
    """Grad-CAM at the target layer's own resolution, and the logits of the same pass.

    The same map ``pytorch_grad_cam.GradCAM`` computes before it upsamples:
    weights = spatial mean of d(score)/dA, map = relu(sum_k w_k A_k), min-max
    scaled. Only the gradient with respect to the layer's activations is
    taken (``torch.autograd.grad``), so the backward pass stops at the target
    layer instead of running through the whole network into every
    parameter: for a ResNet that is the pooling and the classifier only. The
    layers before the target one run without autograd bookkeeping at all.

    Safe under ``torch.inference_mode()`` and autocast, like :func:`gradcam`.

    Args:
        model: Classifier in eval mode.
        inputs: float32 (B, C, H, W) on the model's device.
        target_layer: Module whose (B, K, h, w) output is weighted.
        class_indices: Class to explain per image; default: the argmax.

    Returns:
        ``(maps, logits)``: float32 (B, h, w) in [0, 1] (each non-empty map
        spans [0, 1]; all zeros when the positive evidence is nil), and the
        float32 (B, K) logits.
    """
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be (B, C, H, W), got {tuple(inputs.shape)}")
    if class_indices is not None and len(class_indices) != inputs.shape[0]:
        raise ValueError("class_indices must have one entry per image")
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: Any, out: torch.Tensor) -> torch.Tensor:
        # The layers up to here ran without autograd bookkeeping (no_grad
        # below); from here on autograd records, with these activations as
        # the leaf whose gradient Grad-CAM needs. Leaving no_grad restores
        # the caller's grad mode.
        torch.set_grad_enabled(True)
        leaf = out.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf

    handle = target_layer.register_forward_hook(hook)
    device_type = inputs.device.type
    autocast_off = (
        torch.autocast(device_type=device_type, enabled=False)
        if device_type in ("cuda", "cpu", "mps")
        else contextlib.nullcontext()
    )
    try:
        with torch.inference_mode(False), autocast_off:
            x = inputs.detach().clone().float()  # out of inference mode, so autograd may record
            with torch.no_grad():
                logits = model(x).float()
            if not captured:
                raise ValueError("the Grad-CAM target layer did not run in the forward pass")
            acts = captured[-1]
            if class_indices is None:
                chosen = logits.argmax(1)
            else:
                chosen = torch.as_tensor([int(i) for i in class_indices], device=logits.device)
            if not logits.requires_grad:
                raise ValueError("the Grad-CAM target layer's output does not reach the logits")
            score = logits.gather(1, chosen.view(-1, 1)).sum()
            (grads,) = torch.autograd.grad(score, acts)
        with torch.no_grad():
            weights = grads.float().mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1)
            cams = torch.relu((weights * acts.detach().float()).sum(1))  # (B, h, w)
    finally:
        handle.remove()
    maps = np.nan_to_num(cams.cpu().numpy().astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo = maps.reshape(maps.shape[0], -1).min(axis=1)[:, None, None]
    maps = maps - lo
    hi = maps.reshape(maps.shape[0], -1).max(axis=1)[:, None, None]
    maps = np.where(hi > 0, maps / np.maximum(hi, 1e-30), 0.0).astype(np.float32)
    return maps, logits.detach()


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
