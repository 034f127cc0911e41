"""Architecture registry: every net builds for 1 and 3 channels with the right head."""

from __future__ import annotations

import copy

import pytest
import torch

from oncocore.nets import available_archs, build_model, gradcam_target_layer
from oncocore.nets._stem import adapt_stem_conv

ARCHS = ["resnet18", "resnet50", "efficientnet_b0", "densenet121", "convnext_tiny", "tinycnn"]


def test_registry_lists_required_archs():
    assert set(ARCHS) <= set(available_archs())


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("channels", [1, 3])
def test_build_forward_shape(arch, channels):
    torch.manual_seed(0)
    model = build_model(arch, num_classes=5, in_channels=channels).eval()
    with torch.no_grad():
        out = model(torch.randn(2, channels, 32, 32))  # tiny input: these run on 2 CPU cores
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()
    layer = gradcam_target_layer(model, arch)
    assert any(layer is m for m in model.modules())


def test_one_channel_stem_equals_three_channel_on_replicated_gray():
    torch.manual_seed(0)
    m3 = build_model("resnet18", num_classes=3, in_channels=3).eval()
    m1 = copy.deepcopy(m3)
    m1.conv1 = adapt_stem_conv(m1.conv1, 1)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(m1(x), m3(x.repeat(1, 3, 1, 1)), atol=1e-5, rtol=1e-4)
    assert m1.conv1.in_channels == 1 and m1.conv1.stride == m3.conv1.stride


def test_unknown_arch_and_bad_sizes():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("vgg99", num_classes=3, in_channels=1)
    with pytest.raises(ValueError):
        build_model("tinycnn", num_classes=1, in_channels=1)
    with pytest.raises(ValueError):
        build_model("tinycnn", num_classes=3, in_channels=2)
