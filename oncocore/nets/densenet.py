"""DenseNet family builder (torchvision ``densenet121``)."""

from __future__ import annotations

from torch import nn
from torchvision import models

from ._stem import adapt_stem_conv


def build_densenet121(*, num_classes: int, in_channels: int) -> nn.Module:
    """DenseNet-121 with a ``num_classes`` head and an ``in_channels`` stem."""
    model = models.densenet121(weights=None, num_classes=num_classes)
    model.features.conv0 = adapt_stem_conv(model.features.conv0, in_channels)
    return model


def densenet_target_layer(model: nn.Module) -> nn.Module:
    """Last dense block (1024 channels), stride 32.

    ``features.norm5`` is the more common choice, but torchvision applies an
    in-place ReLU to its output in ``forward``, which rewrites the activation
    that Grad-CAM has just captured. The dense block output feeds a
    non-in-place BatchNorm, so its activations and gradients stay consistent.
    """
    return model.get_submodule("features.denseblock4")
