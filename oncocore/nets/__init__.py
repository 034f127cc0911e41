"""Architecture registry: build a classifier by name and find its Grad-CAM layer.

Every architecture is built from scratch (``weights=None``): the deployment has
no internet access and no pretrained weights. Usage::

    model = build_model("resnet18", num_classes=4, in_channels=1)
    layer = gradcam_target_layer(model, "resnet18")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from .convnext import build_convnext_tiny, convnext_target_layer
from .densenet import build_densenet121, densenet_target_layer
from .efficientnet import build_efficientnet_b0, efficientnet_target_layer
from .resnet import build_resnet10, build_resnet18, build_resnet50, resnet_target_layer
from .tinycnn import TinyCNN, build_tinycnn, build_tinycnn_gn, tinycnn_target_layer

__all__ = [
    "ArchSpec",
    "TinyCNN",
    "available_archs",
    "build_model",
    "gradcam_target_layer",
    "register_arch",
]


@dataclass(frozen=True)
class ArchSpec:
    """How to build one architecture and where to attach Grad-CAM.

    Attributes:
        builder: ``builder(*, num_classes, in_channels) -> nn.Module``.
        target_layer: ``target_layer(model) -> nn.Module`` returning the module
            whose (B, C, h, w) output Grad-CAM weights by its gradients.
    """

    builder: Callable[..., nn.Module]
    target_layer: Callable[[nn.Module], nn.Module]


_REGISTRY: dict[str, ArchSpec] = {
    "resnet10": ArchSpec(build_resnet10, resnet_target_layer),
    "resnet18": ArchSpec(build_resnet18, resnet_target_layer),
    "resnet50": ArchSpec(build_resnet50, resnet_target_layer),
    "efficientnet_b0": ArchSpec(build_efficientnet_b0, efficientnet_target_layer),
    "densenet121": ArchSpec(build_densenet121, densenet_target_layer),
    "convnext_tiny": ArchSpec(build_convnext_tiny, convnext_target_layer),
    "tinycnn": ArchSpec(build_tinycnn, tinycnn_target_layer),
    "tinycnn_gn": ArchSpec(build_tinycnn_gn, tinycnn_target_layer),
}


def register_arch(name: str, spec: ArchSpec, *, replace: bool = False) -> None:
    """Add an architecture to the registry.

    Raises:
        ValueError: If ``name`` is taken and ``replace`` is False.
    """
    if name in _REGISTRY and not replace:
        raise ValueError(f"architecture {name!r} is already registered")
    _REGISTRY[name] = spec


def available_archs() -> list[str]:
    """Sorted names accepted by :func:`build_model`."""
    return sorted(_REGISTRY)


def _spec(arch: str) -> ArchSpec:
    try:
        return _REGISTRY[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(available_archs())}") from None


def build_model(arch: str, *, num_classes: int, in_channels: int) -> nn.Module:
    """Build an untrained classifier.

    Args:
        arch: A name from :func:`available_archs`.
        num_classes: Size of the output layer, >= 2.
        in_channels: 1 (grayscale) or 3 (RGB) input channels.

    Returns:
        A module in training mode mapping (B, in_channels, H, W) float32 to
        (B, num_classes) logits.

    Raises:
        ValueError: Unknown ``arch`` or invalid sizes.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
    return _spec(arch).builder(num_classes=num_classes, in_channels=in_channels)


def gradcam_target_layer(model: nn.Module, arch: str) -> nn.Module:
    """Return the layer of ``model`` (built as ``arch``) used for Grad-CAM."""
    return _spec(arch).target_layer(model)
