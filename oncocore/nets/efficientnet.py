"""EfficientNet family builder (torchvision ``efficientnet_b0``)."""

from __future__ import annotations

from torch import nn
from torchvision import models

from ._stem import adapt_stem_conv


def build_efficientnet_b0(*, num_classes: int, in_channels: int) -> nn.Module:
    """EfficientNet-B0 with a ``num_classes`` head and an ``in_channels`` stem."""
    model = models.efficientnet_b0(weights=None, num_classes=num_classes)
    stem = model.features[0]  # Conv2dNormActivation(conv, bn, silu)
    stem[0] = adapt_stem_conv(stem[0], in_channels)
    return model


def efficientnet_target_layer(model: nn.Module) -> nn.Module:
    """Final 1x1 conv block (1280 channels, post-activation), stride 32."""
    return list(model.get_submodule("features").children())[-1]
