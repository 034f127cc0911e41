"""ImageNet normalisation in the shared preprocessing: the preset, its grey form, its card round trip."""

from __future__ import annotations

import json

import pytest
import torch

from oncocore.nets import build_model
from oncocore.preprocessing import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    PreprocessSpec,
    imagenet_stats,
    normalize_uint8,
    preprocess,
)
from oncocore.registry import ModelCard, load_card, save_bundle

from .helpers import BRAIN_CLASSES, synthetic_rgb, synthetic_scan


def test_imagenet_preset_rgb_and_grey():
    rgb = PreprocessSpec.imagenet(224)
    assert (rgb.channels, rgb.mean, rgb.std) == (3, IMAGENET_MEAN, IMAGENET_STD)
    grey = PreprocessSpec.imagenet(160, channels=1, resize_mode="resize")
    # The luma weights of PIL's "L" conversion applied to the RGB statistics.
    luma = (0.299, 0.587, 0.114)
    assert grey.mean[0] == pytest.approx(
        sum(w * m for w, m in zip(luma, IMAGENET_MEAN, strict=True)), abs=1e-3
    )
    assert grey.std[0] == pytest.approx(sum(w * s for w, s in zip(luma, IMAGENET_STD, strict=True)), abs=1e-3)
    assert (grey.input_size, grey.resize_mode) == (160, "resize")
    task = PreprocessSpec.for_task("brain_mri", 128)
    switched = task.with_imagenet_stats()
    assert (switched.mean, switched.std) == imagenet_stats(1)
    assert switched.crop_foreground and switched.input_size == 128  # all else kept


def test_normalised_values_are_imagenet_standard_scores():
    spec = PreprocessSpec.imagenet(32, channels=3, resize_mode="resize")
    x = torch.full((3, 2, 2), 255, dtype=torch.uint8)
    out = normalize_uint8(x, spec)
    expected = torch.tensor([(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD, strict=True)])
    torch.testing.assert_close(out[:, 0, 0], expected)


@pytest.mark.parametrize("channels", [1, 3])
def test_the_spec_round_trips_through_a_bundle_card(tmp_path, channels):
    """Training writes the spec on the card; serving reads it back and preprocesses identically."""
    spec = PreprocessSpec.imagenet(64, channels=channels, resize_mode="resize")
    assert PreprocessSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    card = ModelCard(
        name="t",
        version="1",
        task="brain_mri",
        arch="tinycnn",
        class_names=tuple(BRAIN_CLASSES),
        preprocessing=spec,
    )
    model = build_model("tinycnn", num_classes=4, in_channels=channels).eval()
    save_bundle(tmp_path / "b", model, card)
    served = load_card(tmp_path / "b").preprocessing
    assert served == spec and served.mean == imagenet_stats(channels)[0]
    image = synthetic_rgb(50, 70) if channels == 3 else synthetic_scan(50, 70)
    assert torch.equal(preprocess(image, served), preprocess(image, spec))
