"""A two-convolution network for tests and smoke runs (not for diagnosis)."""

from __future__ import annotations

import torch
from torch import nn


class TinyCNN(nn.Module):
    """Two conv blocks, global average pooling and a linear head.

    Small enough to train for a few steps on a CPU in a unit test while still
    having a spatial feature map for Grad-CAM.
    """

    def __init__(self, *, num_classes: int, in_channels: int, width: int = 16, norm: str = "batch") -> None:
        super().__init__()
        if norm not in ("batch", "group"):
            raise ValueError(f"norm must be 'batch' or 'group', got {norm!r}")

        def norm_layer(channels: int) -> nn.Module:
            # GroupNorm has no batch statistics: the smoke recipe's distributed run computes
            # exactly what one process does (BatchNorm would see per-rank batches).
            return nn.BatchNorm2d(channels) if norm == "batch" else nn.GroupNorm(4, channels)

        self.features = nn.Sequential(
            nn.Sequential(
                nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                norm_layer(width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ),
            nn.Sequential(
                nn.Conv2d(width, 2 * width, 3, padding=1, bias=False),
                norm_layer(2 * width),
                nn.ReLU(inplace=True),
            ),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map (B, C, H, W) float input to (B, num_classes) logits."""
        x = self.features(x)  # (B, 2w, H/2, W/2)
        return self.fc(torch.flatten(self.pool(x), 1))


def build_tinycnn(*, num_classes: int, in_channels: int) -> nn.Module:
    """Build :class:`TinyCNN`."""
    return TinyCNN(num_classes=num_classes, in_channels=in_channels)


def build_tinycnn_gn(*, num_classes: int, in_channels: int) -> nn.Module:
    """Build :class:`TinyCNN` with GroupNorm instead of BatchNorm (the smoke recipe's net)."""
    return TinyCNN(num_classes=num_classes, in_channels=in_channels, norm="group")


def tinycnn_target_layer(model: nn.Module) -> nn.Module:
    """Second conv block (post-ReLU), stride 2."""
    return list(model.get_submodule("features").children())[-1]
