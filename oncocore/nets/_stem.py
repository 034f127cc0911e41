"""Helpers shared by the architecture builders.

The torchvision constructors always build a 3-channel stem. Grayscale modalities
(MR, CT) are served as 1-channel tensors, so the stem convolution is rebuilt
with the requested number of input channels.
"""

from __future__ import annotations

import torch
from torch import nn


def adapt_stem_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """Return a copy of ``conv`` that accepts ``in_channels`` input channels.

    The new kernel is derived from the old one (timm's ``adapt_input_conv``
    rule) instead of being re-initialised: for one channel the RGB kernels are
    summed, so a 1-channel model fed ``x`` computes exactly what the 3-channel
    model computes on ``x`` replicated into three channels. That keeps the
    architecture's own initialisation scheme (and would keep pretrained
    weights meaningful if they are ever loaded before adaptation).

    Args:
        conv: The original stem convolution (any ``in_channels``, ``groups == 1``).
        in_channels: Desired number of input channels, >= 1.

    Returns:
        ``conv`` itself when the channel count already matches, otherwise a new
        ``nn.Conv2d`` with identical kernel size, stride, padding, dilation and
        bias, on the same device and dtype.

    Raises:
        ValueError: If ``in_channels`` < 1 or ``conv`` is a grouped convolution.
    """
    if in_channels < 1:
        raise ValueError(f"in_channels must be >= 1, got {in_channels}")
    if conv.groups != 1:
        raise ValueError("adapt_stem_conv only supports groups == 1 stem convolutions")
    if conv.in_channels == in_channels:
        return conv
    new = nn.Conv2d(
        in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,  # type: ignore[arg-type]
        stride=conv.stride,  # type: ignore[arg-type]
        padding=conv.padding,  # type: ignore[arg-type]
        dilation=conv.dilation,  # type: ignore[arg-type]
        bias=conv.bias is not None,
        padding_mode=conv.padding_mode,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    with torch.no_grad():
        old = conv.weight  # (O, C_old, kH, kW)
        if in_channels == 1:
            weight = old.sum(dim=1, keepdim=True)  # (O, 1, kH, kW)
        else:
            # Tile the old kernels and rescale so the expected activation
            # magnitude stays the same as with C_old channels.
            reps = -(-in_channels // old.shape[1])
            weight = old.repeat(1, reps, 1, 1)[:, :in_channels] * (old.shape[1] / in_channels)
        new.weight.copy_(weight)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)  # type: ignore[union-attr]
    return new
