"""The single preprocessing definition: parity between training and serving, geometry, intensity."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from oncocore.crop import lung_fields
from oncocore.nets import build_model
from oncocore.predictor import Predictor
from oncocore.preprocessing import (
    PreprocessSpec,
    load_image,
    normalize_uint8,
    normalize_unit,
    prepare_uint8,
    preprocess,
    preprocess_batch,
    preprocess_with_geometry,
    to_uint8_display,
    to_unit,
)
from oncocore.registry import ModelCard, save_bundle
from oncocore.training.data import BatchLoader, CachedImageDataset

from .helpers import jpeg_bytes, synthetic_rgb, synthetic_scan

SPECS = {
    "brain_mri": PreprocessSpec.for_task("brain_mri", 48),
    "lung_ct": PreprocessSpec.for_task("lung_ct", 40),
    "histo_lung": PreprocessSpec.for_task("histo_lung", 32),
}


def test_spec_json_round_trip_and_validation():
    for spec in SPECS.values():
        again = PreprocessSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
        assert again == spec and hash(again) == hash(spec)
    with pytest.raises(ValueError, match="channels"):
        PreprocessSpec(channels=2)
    with pytest.raises(ValueError, match="mean and std"):
        PreprocessSpec(channels=3)
    with pytest.raises(ValueError, match="unknown preprocessing key"):
        PreprocessSpec.from_dict({**SPECS["lung_ct"].to_dict(), "colour": "red"})
    assert PreprocessSpec.for_task("histology").channels == 3


def _training_eval_tensor(path, spec):
    """What train.py's evaluation feeds the model for this image."""
    ds = CachedImageDataset(
        [{"abs_path": str(path), "class": "a", "path": path.name}], spec, ["a", "b"], num_workers=1
    )
    x8, _ = next(iter(BatchLoader(ds, 4)))
    return normalize_uint8(x8, spec)[0]


def _serving_tensor(path, spec, tmp_path):
    """What the Predictor feeds the model for this file (captured with a forward pre-hook)."""
    model = build_model("tinycnn", num_classes=2, in_channels=spec.channels)
    card = ModelCard(
        name="parity", version="1", task="t", arch="tinycnn", class_names=("a", "b"), preprocessing=spec
    )
    bundle = tmp_path / f"bundle-{spec.channels}-{spec.input_size}"
    save_bundle(bundle, model, card, overwrite=True)
    predictor = Predictor(bundle, device="cpu")
    seen = []
    predictor.members[0].model.register_forward_pre_hook(lambda m, args: seen.append(args[0].clone()))
    predictor.predict_sources([str(path)], saliency=False)
    return seen[0][0]


@pytest.mark.parametrize("task", sorted(SPECS))
def test_serving_tensor_equals_training_eval_tensor_bitwise(task, tmp_path, require_data):
    spec = SPECS[task]
    path = tmp_path / "img.jpg"
    img = synthetic_rgb(50, 70) if spec.channels == 3 else synthetic_scan(90, 70)
    path.write_bytes(jpeg_bytes(img))
    paths = [path]
    try:
        root = require_data(task)
        paths.append(sorted((root / "train").glob("*/*.jpg"))[0])
    except pytest.skip.Exception:
        pass
    for p in paths:
        train_x = _training_eval_tensor(p, spec)
        serve_x = _serving_tensor(p, spec, tmp_path)
        direct = preprocess(load_image(p, spec), spec)
        assert train_x.dtype == serve_x.dtype == torch.float32
        assert train_x.shape == (spec.channels, spec.input_size, spec.input_size)
        assert torch.equal(train_x, serve_x) and torch.equal(train_x, direct)


def test_batch_equals_single_and_bytes_equal_path(tmp_path):
    spec = SPECS["brain_mri"]
    imgs = [synthetic_scan(60 + 10 * i, 50, seed=i) for i in range(3)]
    batch, geoms = preprocess_batch(imgs, spec)
    assert batch.shape == (3, 1, 48, 48)
    for i, img in enumerate(imgs):
        x, g = preprocess_with_geometry(img, spec)
        assert torch.equal(batch[i], x) and g == geoms[i]
    data = jpeg_bytes(imgs[0])
    (tmp_path / "a.jpg").write_bytes(data)
    assert np.array_equal(load_image(data, 1), load_image(tmp_path / "a.jpg", 1))


def test_letterbox_geometry_and_padding():
    spec = PreprocessSpec(input_size=40, channels=1)
    img = np.full((20, 80), 200, np.uint8)  # wide image
    x8, g = prepare_uint8(img, spec)
    assert g.original_hw == (20, 80) and g.crop_box == (0, 0, 20, 80)
    top, left, bottom, right = g.content_box
    assert (left, right) == (0, 40) and bottom - top == 10 and top == 15
    assert x8[0, :top].max() == 0 and x8[0, bottom:].max() == 0  # zero padding
    assert x8[0, top:bottom].min() == 200


def test_crop_foreground_finds_the_head():
    spec = PreprocessSpec(input_size=32, channels=1, crop_foreground=True, foreground_margin=0.0)
    img = np.zeros((100, 120), np.uint8)
    img[20:70, 30:100] = 150
    img[95, 2] = 255  # an isolated speck must not stretch the box
    _, g = prepare_uint8(img, spec)
    assert g.crop_box == (20, 30, 70, 100)
    _, g = prepare_uint8(np.zeros((10, 10), np.uint8), spec)  # nothing bright: keep everything
    assert g.crop_box == (0, 0, 10, 10)


def test_rgb_and_gray_conversion():
    rgb = synthetic_rgb(30, 30)
    gray_spec = PreprocessSpec(input_size=30, channels=1, resize_mode="resize")
    x8, _ = prepare_uint8(rgb, gray_spec)
    assert np.array_equal(x8[0].numpy(), np.asarray(Image.fromarray(rgb).convert("L")))
    rgb_spec = PreprocessSpec.for_task("histo_lung", 30)
    x8, _ = prepare_uint8(synthetic_scan(30, 30), rgb_spec)
    assert x8.shape == (3, 30, 30) and torch.equal(x8[0], x8[1])
    x8, _ = prepare_uint8(np.dstack([rgb, np.full((30, 30), 255, np.uint8)]), rgb_spec)  # RGBA
    assert x8.shape == (3, 30, 30)


def test_intensity_modes():
    hu = np.array([[-2000, -1350], [150, 3000]], dtype=np.int16)
    ct = PreprocessSpec(
        input_size=8,
        channels=1,
        resize_mode="resize",
        intensity="ct_window",
        window_center=-600,
        window_width=1500,
    )
    assert np.array_equal(to_uint8_display(hu, window=(-600, 1500)), [[0, 0], [255, 255]])
    x = preprocess(hu, ct)
    assert x.shape == (1, 8, 8) and torch.isfinite(x).all()
    with pytest.raises(ValueError, match="Hounsfield"):
        preprocess(np.zeros((8, 8), np.uint8), ct)
    mr = PreprocessSpec(
        input_size=8, channels=1, intensity="mr_percentile", percentile_low=0, percentile_high=100
    )
    raw = np.linspace(0, 4000, 64, dtype=np.float32).reshape(8, 8)
    x8, _ = prepare_uint8(raw, mr)
    assert x8.min() == 0 and x8.max() == 255
    with pytest.raises(ValueError, match="uint8"):
        preprocess(raw.astype(np.uint16), PreprocessSpec(input_size=8))
    with pytest.raises(ValueError, match="shape"):
        preprocess(np.zeros((3, 8, 8, 2), np.uint8), PreprocessSpec(input_size=8))


def test_load_image_16bit_png_and_garbage():
    a = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 15
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    out = load_image(buf.getvalue(), 1)
    assert out.dtype == np.uint8 and out.shape == (64, 64) and out.max() == 255 and out.min() == 0
    assert load_image(buf.getvalue(), 3).shape == (64, 64, 3)
    with pytest.raises(ValueError, match="cannot decode"):
        load_image(b"not an image", 1)


def test_body_crop_keeps_the_patient_and_leaves_out_the_table():
    """CT slices: the largest blurred bright region is the body; a thin table curve below is cropped away."""
    gray = np.zeros((256, 256), np.uint8)
    yy, xx = np.mgrid[:256, :256]
    body = ((yy - 110) / 70.0) ** 2 + ((xx - 128) / 100.0) ** 2 <= 1.0  # rows 40..180
    speckle = (np.random.default_rng(0).random((256, 256)) > 0.5).astype(np.uint8)
    gray[body] = (120 * speckle[body] + 60).astype(np.uint8)  # speckled soft tissue, as in the JPEGs
    gray[226:228, 20:236] = 255  # the table: a thin bright line well below the body
    spec = PreprocessSpec(input_size=64, channels=1, crop_foreground=True, foreground_mode="body")
    _, geometry = prepare_uint8(gray, spec)
    top, left, bottom, right = geometry.crop_box
    assert 30 <= top <= 45 and 175 <= bottom <= 190, geometry.crop_box
    assert bottom < 226  # the table is outside the crop
    assert 15 <= left <= 35 and 220 <= right <= 241  # the blur widens the blob by a few pixels
    with pytest.raises(ValueError, match="foreground_mode"):
        PreprocessSpec(foreground_mode="spleen")


def _chest(lungs: bool = True) -> np.ndarray:
    """A 256 px synthetic chest slice: speckled body, two dark lungs, a bright spine, a table line."""
    gray = np.zeros((256, 256), np.uint8)
    yy, xx = np.mgrid[:256, :256]
    body = ((yy - 110) / 75.0) ** 2 + ((xx - 128) / 110.0) ** 2 <= 1.0  # rows 35..185, cols 18..238
    speckle = (np.random.default_rng(0).random((256, 256)) > 0.5).astype(np.uint8)
    gray[body] = (120 * speckle[body] + 60).astype(np.uint8)
    if lungs:
        for cx in (85, 171):  # rows 70..140, cols 57..113 and 143..199
            gray[((yy - 105) / 35.0) ** 2 + ((xx - cx) / 28.0) ** 2 <= 1.0] = 0
    gray[((yy - 165) / 12.0) ** 2 + ((xx - 128) / 12.0) ** 2 <= 1.0] = 230  # the spine, behind the lungs
    gray[226:228, 20:236] = 255  # the table
    return gray


def test_lung_crop_boxes_the_lung_fields_and_leaves_out_the_spine_and_table():
    """lung_ct's "lungs" mode: the box of the dark fields the body encloses, plus a 5 % margin."""
    gray = _chest()
    lungs, body = lung_fields(gray)
    assert lungs[105, 85] and lungs[105, 171] and not lungs[165, 128] and not lungs[50, 128]
    assert body[165, 128] and not body[227, 128]
    spec = PreprocessSpec(input_size=64, channels=1, crop_foreground=True, foreground_mode="lungs")
    _, geometry = prepare_uint8(gray, spec)
    top, left, bottom, right = geometry.crop_box
    assert 55 <= top <= 72 and 138 <= bottom <= 155, geometry.crop_box  # the spine (153..177) mostly out
    assert 45 <= left <= 58 and 198 <= right <= 212, geometry.crop_box
    # The body's box is much larger: the lungs fill the model's input instead.
    body_box = prepare_uint8(gray, replace(spec, foreground_mode="body"))[1].crop_box
    assert (bottom - top) * (right - left) < 0.5 * (body_box[2] - body_box[0]) * (body_box[3] - body_box[1])


def test_lung_crop_falls_back_to_the_body_below_the_diaphragm():
    gray = _chest(lungs=False)
    assert not lung_fields(gray)[0].any()
    spec = PreprocessSpec(input_size=64, channels=1, crop_foreground=True, foreground_mode="lungs")
    assert (
        prepare_uint8(gray, spec)[1].crop_box
        == prepare_uint8(gray, replace(spec, foreground_mode="body"))[1].crop_box
    )


def _convert_l(path) -> np.ndarray:
    """RGB -> "L" after a full colour decode: what load_image did before it asked libjpeg for luma."""
    with Image.open(path) as img:
        return np.array(ImageOps.exif_transpose(img).convert("L"), dtype=np.uint8)


def test_one_channel_jpeg_decode_is_bit_identical_on_grey_content(tmp_path, require_data):
    # Every 1-channel training image is grey content; many are stored as 3-channel JPEGs.
    grey_rgb = tmp_path / "grey.jpg"
    grey_rgb.write_bytes(jpeg_bytes(np.repeat(synthetic_scan(90, 70)[..., None], 3, axis=2)))
    paths = [grey_rgb]
    for task in ("brain_mri", "lung_ct"):
        try:
            train = require_data(task) / "train"
        except pytest.skip.Exception:
            continue
        for folder in sorted(p for p in train.iterdir() if p.is_dir()):
            paths.extend(sorted(folder.glob("*.jpg"))[:40])
    for path in paths:
        assert np.array_equal(load_image(path, 1), _convert_l(path)), path


def test_one_channel_jpeg_decode_of_a_colour_photo_is_its_luma(tmp_path):
    photo = tmp_path / "colour.jpg"
    photo.write_bytes(jpeg_bytes(synthetic_rgb(64, 64)))
    gray = load_image(photo, 1)
    assert gray.shape == (64, 64) and gray.dtype == np.uint8
    # The encoder's luma, within a few grey levels of converting the decoded RGB.
    assert np.abs(gray.astype(int) - _convert_l(photo).astype(int)).max() <= 16
    assert np.array_equal(
        load_image(photo, 3), np.asarray(Image.open(photo).convert("RGB"))
    )  # 3 channels: unchanged


@pytest.mark.parametrize("channels_last", [False, True])
def test_normalize_uint8_is_the_two_halves_of_stage_b_bit_for_bit_in_the_inputs_memory_format(channels_last):
    spec = PreprocessSpec(input_size=32, channels=3, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    x8 = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    if channels_last:
        x8 = x8.contiguous(memory_format=torch.channels_last)
    out = normalize_uint8(x8, spec)
    assert torch.equal(out, normalize_unit(to_unit(x8), spec))
    assert out.is_contiguous(memory_format=torch.channels_last) is channels_last
    assert x8.dtype == torch.uint8  # the input is left as it was
