"""Synthetic images for the ML core tests."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

BRAIN_CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def synthetic_scan(h: int = 80, w: int = 60, seed: int = 0) -> np.ndarray:
    """uint8 (h, w) 'head': a bright noisy ellipse with a brighter blob on black."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    head = ((yy - h / 2) / (0.35 * h)) ** 2 + ((xx - w / 2) / (0.35 * w)) ** 2 <= 1
    blob = ((yy - 0.4 * h) ** 2 + (xx - 0.6 * w) ** 2) <= (0.08 * min(h, w)) ** 2
    img = head * (110 + rng.normal(0, 15, (h, w))) + blob * 90
    return np.clip(img, 0, 255).astype(np.uint8)


def synthetic_rgb(h: int = 48, w: int = 48, seed: int = 0) -> np.ndarray:
    """uint8 (h, w, 3) pinkish H&E-like tile."""
    rng = np.random.default_rng(seed)
    base = np.array([200, 120, 170], dtype=np.float64)
    img = base + rng.normal(0, 25, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def jpeg_bytes(array: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
