"""Grad-CAM maps and their renderings."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from oncocore.nets import build_model, gradcam_target_layer
from oncocore.preprocessing import PreprocessSpec, preprocess_batch
from oncocore.saliency import (
    SaliencyMap,
    cam_to_original,
    cam_to_png16,
    gradcam,
    gradcam_lowres,
    overlay_png,
    png16_to_cam,
    rescale_to_input,
)

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
    # Issue 22: the map fades to 0 over 1/16 of the box's side inside the box's cut
    # edges (it was 1 right up to them: a hard line in the overlay).
    assert out[15:45, 25:85].min() == pytest.approx(1.0)
    assert out[:10].max() == 0 and out[:, :20].max() == 0  # outside the crop box
    assert out[10, 50] < 0.2 and out[30, 20] < 0.2  # the cut edges: no step
    assert np.all(np.diff(out[10:16, 50]) >= 0)  # a ramp up from the edge


def test_the_ramp_leaves_the_image_borders_alone():
    """A crop box reaching the image's edge is not faded there: only cut edges are."""
    spec = PreprocessSpec(input_size=32, crop_foreground=True, foreground_margin=0.0)
    img = np.zeros((60, 100), np.uint8)
    img[0:50, 20:100] = 180  # touches the top and right borders
    _, (g,) = preprocess_batch([img], spec)
    assert g.crop_box == (0, 20, 50, 100)
    out = cam_to_original(np.ones((32, 32), np.float32), g)
    assert out[0, 40:90].min() == pytest.approx(1.0) and out[10:40, 99].min() == pytest.approx(1.0)
    assert out[49, 60] < 0.2 and out[25, 20] < 0.2


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


# --- Issue 17: maps at the model's own resolution -----------------------------------------
@pytest.mark.parametrize(("arch", "size"), [("tinycnn", 64), ("resnet18", 96), ("resnet10", 160)])
def test_lowres_gradcam_renders_the_map_todays_code_draws(arch, size):
    """The stored cells, rendered, are the full-resolution map gradcam + cam_to_original give."""
    torch.manual_seed(0)
    model = build_model(arch, num_classes=3, in_channels=1).eval()
    layer = gradcam_target_layer(model, arch)
    spec = PreprocessSpec(input_size=size, crop_foreground=True, foreground_margin=0.05)
    images = [synthetic_scan(120, 90, seed=0), synthetic_scan(70, 130, seed=1)]  # letterboxed both ways
    x, geometries = preprocess_batch(images, spec)
    reference, ref_logits = gradcam(model, x, layer, None, return_logits=True)
    with torch.inference_mode():  # callers may hold inference mode
        cells, logits = gradcam_lowres(model, x, layer)
    torch.testing.assert_close(logits, ref_logits)
    assert cells.dtype == np.float32 and cells.shape[1] < size  # the layer's grid, not the input's
    assert all(p.grad is None for p in model.parameters())  # no gradient reached the parameters
    for cam, ref, g, img in zip(cells, reference, geometries, images, strict=True):
        assert cam.min() == 0 and cam.max() == pytest.approx(1.0)
        # Through the stored form: 16-bit PNG and the JSON description.
        stored = SaliencyMap(cam, g, rescale=True)
        back = SaliencyMap.from_png16(stored.to_png16(), json.loads(json.dumps(stored.meta())))
        full = back.render()
        assert full.shape == img.shape and full.dtype == np.float32
        np.testing.assert_allclose(full, cam_to_original(ref, g), atol=2e-3)


def test_lowres_gradcam_explicit_targets_match_and_bad_calls_are_refused():
    torch.manual_seed(0)
    model = build_model("tinycnn", num_classes=3, in_channels=1).eval()
    layer = gradcam_target_layer(model, "tinycnn")
    x = torch.randn(2, 1, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        cells, _ = gradcam_lowres(model, x, layer, class_indices=[0, 2])
    expected = gradcam(model, x, layer, class_indices=[0, 2])
    for cam, ref in zip(cells, expected, strict=True):
        np.testing.assert_allclose(rescale_to_input(cam, 32), ref, atol=2e-3)
    with pytest.raises(ValueError, match="one entry per image"):
        gradcam_lowres(model, x, layer, class_indices=[0])
    with pytest.raises(ValueError, match="did not run"):
        gradcam_lowres(model, x, torch.nn.Conv2d(1, 1, 1))


def test_saliency_map_without_geometry_is_the_full_map_and_shapes_are_checked():
    full = np.random.default_rng(1).random((30, 20)).astype(np.float32)
    stored = SaliencyMap(full, None, rescale=False)
    back = SaliencyMap.from_png16(stored.to_png16(), stored.meta())
    assert np.abs(back.render() - full).max() <= 1 / 65535
    with pytest.raises(ValueError, match="description says"):
        SaliencyMap.from_png16(stored.to_png16(), {**stored.meta(), "shape": [5, 5]})


def test_an_all_zero_map_stays_zero():
    g = preprocess_batch([synthetic_scan(40, 40)], PreprocessSpec(input_size=32))[1][0]
    assert SaliencyMap(np.zeros((4, 4), np.float32), g).render().max() == 0
    assert rescale_to_input(np.zeros((2, 2), np.float32), 8).shape == (8, 8)
