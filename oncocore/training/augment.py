"""Batched, on-device training augmentations (never used when serving).

They act on float (B, C, S, S) tensors in [0, 1], i.e. after ``to_unit`` and
before ``normalize_unit``, with per-sample random parameters drawn from a
seeded generator on the batch's device. Evaluation skips them entirely, which
is what keeps the eval tensor identical to the serving tensor.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo  # (n,)


def _coin(n: int, p: float, g: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(n, generator=g, device=device) < p).view(n, 1, 1, 1)  # (n, 1, 1, 1) bool


def random_flips_rot90(
    x: torch.Tensor, g: torch.Generator, *, vertical: bool = True, rot90: bool = True
) -> torch.Tensor:
    """Horizontal (and optionally vertical) flips and 90-degree turns, per sample.

    Histology tiles have no canonical orientation, so all 8 dihedral
    transforms are label-preserving. Requires square inputs for ``rot90``.
    """
    b, dev = x.shape[0], x.device
    x = torch.where(_coin(b, 0.5, g, dev), x.flip(-1), x)
    if vertical:
        x = torch.where(_coin(b, 0.5, g, dev), x.flip(-2), x)
    if rot90:
        x = torch.where(_coin(b, 0.5, g, dev), x.transpose(-1, -2), x)  # with the flips: all 8
    return x


def random_affine(
    x: torch.Tensor,
    g: torch.Generator,
    *,
    degrees: float = 10.0,
    scale: tuple[float, float] = (0.9, 1.1),
    translate: float = 0.05,
    padding: str = "zeros",
) -> torch.Tensor:
    """Mild rotation/scale/translation, per sample; uncovered corners zero (black) or ``"reflection"``."""
    b, dev = x.shape[0], x.device
    angle = _uniform(b, -degrees, degrees, g, dev) * (math.pi / 180.0)
    s = _uniform(b, scale[0], scale[1], g, dev)
    tx, ty = _uniform(b, -translate, translate, g, dev) * 2, _uniform(b, -translate, translate, g, dev) * 2
    return _warp(x, angle, s, tx, ty, padding)


def _warp(
    x: torch.Tensor, angle: torch.Tensor, s: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor, padding: str
) -> torch.Tensor:
    """Rotate by ``angle`` (radians), zoom by ``s`` and shift by (tx, ty) (normalised), per sample."""
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def random_intensity(
    x: torch.Tensor,
    g: torch.Generator,
    *,
    contrast: float = 0.1,
    brightness: float = 0.05,
    gamma: float = 0.15,
) -> torch.Tensor:
    """Contrast, brightness and gamma jitter for grayscale scans, per sample."""
    b, dev = x.shape[0], x.device
    c = _uniform(b, 1 - contrast, 1 + contrast, g, dev).view(b, 1, 1, 1)
    br = _uniform(b, -brightness, brightness, g, dev).view(b, 1, 1, 1)
    gm = _uniform(b, 1 - gamma, 1 + gamma, g, dev).view(b, 1, 1, 1)
    return (x.clamp(0, 1).pow(gm) * c + br).clamp(0, 1)


def random_color_jitter(
    x: torch.Tensor,
    g: torch.Generator,
    *,
    brightness: float = 0.1,
    contrast: float = 0.1,
    saturation: float = 0.15,
    hue: float = 0.04,
) -> torch.Tensor:
    """Brightness/contrast/saturation/hue jitter for RGB stain variation, per sample.

    Hue is rotated in YIQ space (a linear map, so it batches as one matmul).
    """
    b, dev = x.shape[0], x.device
    x = x * _uniform(b, 1 - brightness, 1 + brightness, g, dev).view(b, 1, 1, 1)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * _uniform(b, 1 - contrast, 1 + contrast, g, dev).view(b, 1, 1, 1) + mean
    if x.shape[1] != 3:
        return x.clamp(0, 1)
    gray = 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
    x = gray + (x - gray) * _uniform(b, 1 - saturation, 1 + saturation, g, dev).view(b, 1, 1, 1)
    to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], device=dev, dtype=x.dtype
    )
    phi = _uniform(b, -hue, hue, g, dev) * (2 * math.pi)
    rot = torch.zeros(b, 3, 3, device=dev, dtype=x.dtype)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = phi.cos(), -phi.sin(), phi.sin(), phi.cos()
    m = torch.linalg.inv(to_yiq) @ rot @ to_yiq  # (B, 3, 3)
    x = torch.einsum("bij,bjhw->bihw", m, x)
    return x.clamp(0, 1)


def random_zoom_rotate(
    x: torch.Tensor,
    g: torch.Generator,
    *,
    degrees: float = 45.0,
    zoom: tuple[float, float] = (1.0, 1.5),
) -> torch.Tensor:
    """Zoom in by ``zoom``, rotate freely and crop anywhere that stays inside the tile, per sample.

    For textures without a frame (histology): every output is a plausible
    field of view of the same tissue. Corners uncovered by the rotation are
    mirrored (reflection padding), not black.
    """
    b, dev = x.shape[0], x.device
    angle = _uniform(b, -degrees, degrees, g, dev) * (math.pi / 180.0)
    s = _uniform(b, zoom[0], zoom[1], g, dev)
    room = (1.0 - 1.0 / s).clamp_min(0.0)  # how far the zoomed window can move, normalised
    tx, ty = _uniform(b, -1.0, 1.0, g, dev) * room, _uniform(b, -1.0, 1.0, g, dev) * room
    return _warp(x, angle, s, tx, ty, "reflection")


def mix_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    g: torch.Generator,
    *,
    mixup_alpha: float = 0.0,
    cutmix_alpha: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """MixUp or CutMix one batch (as in torchvision's classification references).

    With both alphas positive, each batch picks one of the two at random. The
    batch is paired with a rolled copy of itself; MixUp blends whole images
    with ``lam ~ Beta(alpha, alpha)``, CutMix pastes a box of area ``1 - lam``
    and sets ``lam`` to the share of the image left unpasted.

    Returns:
        ``(mixed, y, y_paired, lam)``: train on
        ``lam * loss(mixed, y) + (1 - lam) * loss(mixed, y_paired)``. With
        both alphas 0 the batch comes back untouched with ``lam = 1``.
    """
    if mixup_alpha <= 0 and cutmix_alpha <= 0:
        return x, y, y, 1.0
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g, device=g.device).item())
    rng = np.random.default_rng(seed)
    use_cutmix = cutmix_alpha > 0 and (mixup_alpha <= 0 or rng.random() < 0.5)
    lam = float(rng.beta(cutmix_alpha, cutmix_alpha) if use_cutmix else rng.beta(mixup_alpha, mixup_alpha))
    x2, y2 = x.roll(1, 0), y.roll(1, 0)
    if not use_cutmix:
        return x * lam + x2 * (1.0 - lam), y, y2, lam
    h, w = x.shape[-2:]
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
    out = x.clone()
    out[..., y0:y1, x0:x1] = x2[..., y0:y1, x0:x1]
    return out, y, y2, 1.0 - (y1 - y0) * (x1 - x0) / (h * w)


#: Augmentation strengths ``make_augment`` (and ``train.py --augment``) know.
STRENGTHS = ("standard", "strong", "geometric")


def make_augment(modality: str, strength: str = "standard") -> Augment:
    """Augmentation for ``"histology"``, ``"mr"``, ``"ct"`` or ``"none"``.

    ``strength="strong"`` widens every range and, for histology, adds zoomed,
    freely rotated crops and stronger stain jitter: for data sets with few
    distinct originals (LC25000's lung tiles are ~100 originals, each copied
    ~20 times by rotation and flips). ``strength="geometric"`` moves pixels
    and leaves their values alone: the standard flips (and, for histology, 90°
    turns) plus a small affine move, no stain or intensity jitter (the plain
    fine-tune's "flips and small affine").

    Returns:
        ``augment(x, generator) -> x`` on float [0, 1] (B, C, S, S).

    Raises:
        ValueError: Unknown modality or strength.
    """
    if strength not in STRENGTHS:
        raise ValueError(f"unknown augmentation strength {strength!r}; use one of {', '.join(STRENGTHS)}")
    strong = strength == "strong"
    if modality == "none":
        return lambda x, g: x
    if strength == "geometric":
        if modality not in ("histology", "mr", "ct"):
            raise ValueError(f"unknown modality {modality!r}; use histology, mr, ct or none")
        # Anatomy has an up direction and a black background; tiles have neither (mirrored tissue fills).
        tile = modality == "histology"
        return lambda x, g: random_affine(
            random_flips_rot90(x, g, vertical=tile, rot90=tile), g, padding="reflection" if tile else "zeros"
        )
    if modality == "histology":
        if strong:
            return lambda x, g: random_color_jitter(
                random_zoom_rotate(random_flips_rot90(x, g), g),
                g,
                brightness=0.2,
                contrast=0.2,
                saturation=0.3,
                hue=0.06,
            )
        return lambda x, g: random_color_jitter(random_flips_rot90(x, g), g)
    if modality in ("mr", "ct"):
        # Left-right flips are plausible for axial/coronal slices; vertical
        # flips and 90-degree turns are not (anatomy has an up direction).
        affine: dict[str, Any] = dict(degrees=15.0, scale=(0.85, 1.2), translate=0.08) if strong else {}
        intensity: dict[str, Any] = dict(contrast=0.2, brightness=0.1, gamma=0.25) if strong else {}
        return lambda x, g: random_intensity(
            random_affine(random_flips_rot90(x, g, vertical=False, rot90=False), g, **affine), g, **intensity
        )
    raise ValueError(f"unknown modality {modality!r}; use histology, mr, ct or none")
