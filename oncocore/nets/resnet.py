"""ResNet family builders (torchvision ``resnet18`` / ``resnet50``, and a one-block-per-stage ``resnet10``)."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from torchvision import models
from torchvision.models.resnet import BasicBlock, ResNet

from ._stem import adapt_stem_conv


def _build(factory: Callable[..., ResNet], num_classes: int, in_channels: int) -> nn.Module:
    # weights=None: no pretrained download is possible in this deployment.
    model = factory(weights=None, num_classes=num_classes)
    model.conv1 = adapt_stem_conv(model.conv1, in_channels)
    return model


def build_resnet18(*, num_classes: int, in_channels: int) -> nn.Module:
    """ResNet-18 with a ``num_classes`` head and an ``in_channels`` stem."""
    return _build(models.resnet18, num_classes, in_channels)


def build_resnet10(*, num_classes: int, in_channels: int) -> nn.Module:
    """torchvision's ResNet with one BasicBlock per stage (4.9M parameters).

    Half the compute of ResNet-18 and small enough that its fp16 weights fit
    the 16 MiB bundle-file limit (ResNet-18's are 22 MB); the CPU default.
    """
    model = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=num_classes)
    model.conv1 = adapt_stem_conv(model.conv1, in_channels)
    return model


def build_resnet50(*, num_classes: int, in_channels: int) -> nn.Module:
    """ResNet-50 with a ``num_classes`` head and an ``in_channels`` stem."""
    return _build(models.resnet50, num_classes, in_channels)


def resnet_target_layer(model: nn.Module) -> nn.Module:
    """Last residual block: the deepest spatial feature map (stride 32)."""
    return list(model.get_submodule("layer4").children())[-1]
