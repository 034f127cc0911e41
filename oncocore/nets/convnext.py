"""ConvNeXt family builder (torchvision ``convnext_tiny``)."""

from __future__ import annotations

from torch import nn
from torchvision import models

from ._stem import adapt_stem_conv


def build_convnext_tiny(*, num_classes: int, in_channels: int) -> nn.Module:
    """ConvNeXt-Tiny with a ``num_classes`` head and an ``in_channels`` stem."""
    model = models.convnext_tiny(weights=None, num_classes=num_classes)
    stem = model.features[0]  # Conv2dNormActivation(conv 4x4/4, LayerNorm2d)
    stem[0] = adapt_stem_conv(stem[0], in_channels)
    return model


def convnext_target_layer(model: nn.Module) -> nn.Module:
    """Last stage (768 channels, stride 32), output is (B, C, H, W)."""
    return list(model.get_submodule("features").children())[-1]
