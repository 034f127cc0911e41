"""Grad-CAM maps and their renderings."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from oncocore.nets import build_model, gradcam_target_layer
from oncocore.preprocessing import PreprocessSpec, preprocess_batch
from oncocore.saliency import cam_to_original, cam_to_png16, gradcam, overlay_png, png16_to_cam

from .helpers import synthetic_scan


@pytest.mark.parametrize("arch", ["tinycnn", "resnet18"])
def test_gradcam_maps_have_input_shape_are_finite_and_not_constant(arch):
    torch.manual_seed(0)
    model = build_model(arch, num_classes=3, in_channels=1).eval()
    spec = PreprocessSpec(input_size=64)
    x, _ = preprocess_batch([synthetic_scan(seed=i) for i in range(2)], spec)  # (2, 1, 64, 64)
    with torch.inference_mode():  # callers may hold inference mode; gradcam must still work
        maps = gradcam(model, x, gradcam_target_layer(model, arch))
    assert maps.shape == (2, 64, 64) and maps.dtype == np.float32
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    for m in maps:
        assert m.std() > 1e-3 and m.max() == pytest.approx(1.0)
    assert all(p.grad is None for p in model.parameters())  # gradients released


def test_gradcam_explicit_targets_and_autocast():
    torch.manual_seed(0)
    model = build_model("tinycnn", num_classes=3, in_channels=1).eval()
    x = torch.randn(2, 1, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        maps = gradcam(model, x, gradcam_target_layer(model, "tinycnn"), class_indices=[0, 2])
    assert maps.shape == (2, 32, 32) and np.isfinite(maps).all()
    with pytest.raises(ValueError):
        gradcam(model, x, gradcam_target_layer(model, "tinycnn"), class_indices=[0])


def test_cam_to_original_inverts_letterbox_and_crop():
    spec = PreprocessSpec(input_size=32, crop_foreground=True, foreground_margin=0.0)
    img = np.zeros((60, 100), np.uint8)
    img[10:50, 20:90] = 180
    _, (g,) = preprocess_batch([img], spec)
    cam = np.zeros((32, 32), np.float32)
    top, left, bottom, right = g.content_box
    cam[top:bottom, left:right] = 1.0  # saliency exactly on the content
    out = cam_to_original(cam, g)
    assert out.shape == (60, 100)
    assert out[12:48, 22:88].min() == pytest.approx(1.0)
    assert out[:10].max() == 0 and out[:, :20].max() == 0  # outside the crop box


def test_overlay_png_gray_and_rgb_and_png16_round_trip():
    cam = np.random.default_rng(0).random((16, 16)).astype(np.float32)
    for display in (synthetic_scan(40, 30), np.dstack([synthetic_scan(40, 30)] * 3)):
        png = overlay_png(display, cam, alpha=0.45)
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and im.mode == "RGB" and im.size == (30, 40)
    with pytest.raises(ValueError):
        overlay_png(display.astype(np.float32), cam)
    data = cam_to_png16(cam)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode.startswith("I") and im.size == (16, 16)
    assert np.abs(png16_to_cam(data) - cam).max() <= 1 / 65535
