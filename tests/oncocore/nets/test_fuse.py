"""BatchNorm folding for serving: same logits and Grad-CAM, no BatchNorm left, nothing wrongly folded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from oncocore.nets import build_model, gradcam_target_layer
from oncocore.nets.fuse import fold_batchnorm
from oncocore.saliency import gradcam_lowres


def _trained_like(model: nn.Module) -> nn.Module:
    """Random running statistics and affine parameters, so folding has something to fold."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model.eval()


def _count(model: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


@pytest.mark.parametrize(
    ("arch", "size", "folds"),
    [("resnet10", 64, 12), ("efficientnet_lite0", 96, 49)],
)
def test_folded_model_gives_the_same_logits_and_gradcam(arch: str, size: int, folds: int) -> None:
    torch.manual_seed(0)
    model = _trained_like(build_model(arch, num_classes=3, in_channels=1))
    x = torch.randn(4, 1, size, size)
    assert _count(model, nn.BatchNorm2d) == folds
    with torch.no_grad():
        want = model(x)
    ref, _ = gradcam_lowres(model, x, gradcam_target_layer(model, arch), None)
    convs = _count(model, nn.Conv2d)
    assert fold_batchnorm(model, x[:2, :, :32, :32]) == folds  # every conv -> BN pair, from a small input
    assert _count(model, nn.BatchNorm2d) == 0 and _count(model, nn.Conv2d) == convs
    with torch.no_grad():
        got = model(x)
    assert torch.allclose(got, want, atol=1e-4, rtol=1e-4)
    # Grad-CAM at the same (folded) target layer gives the same map, NHWC or not.
    nhwc = model.to(memory_format=torch.channels_last)
    maps, logits = gradcam_lowres(
        nhwc, x.contiguous(memory_format=torch.channels_last), gradcam_target_layer(nhwc, arch), None
    )
    np.testing.assert_allclose(maps, ref, atol=1e-4)
    assert torch.equal(logits.argmax(1), want.argmax(1))


class _SharedConv(nn.Module):
    """A conv whose output feeds a BatchNorm and, besides, the residual sum: folding would change the sum."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.head((self.bn(y) + y).mean((2, 3)))


class _BnFirst(nn.Module):
    """BatchNorm registered after a conv but applied before it (pre-activation order)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.bn = nn.BatchNorm2d(1)
        self.head = nn.Linear(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(self.bn(x)).mean((2, 3)))


def test_a_conv_output_used_twice_is_checked_and_put_back() -> None:
    # The conv's output also reaches a functional add that no hook sees, so the
    # pair looks foldable; the output check catches it and restores both modules.
    model = _trained_like(_SharedConv())
    conv, bn = model.conv, model.bn
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        want = model(x)
    assert fold_batchnorm(model, x) == 0
    assert model.conv is conv and model.bn is bn
    with torch.no_grad():
        assert torch.equal(model(x), want)


def test_registration_order_is_not_taken_for_data_flow() -> None:
    model = _trained_like(_BnFirst())
    conv, bn = model.conv, model.bn
    assert fold_batchnorm(model, torch.randn(2, 1, 8, 8)) == 0  # the BN reads the input, not the conv
    assert model.conv is conv and model.bn is bn


class _FixedSize(nn.Module):
    """A head that only takes 8 x 8 inputs: the small example fails and the model is served as it is."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.head = nn.Linear(2 * 8 * 8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bn(self.conv(x)).flatten(1))


def test_a_net_that_cannot_run_on_the_example_is_left_alone() -> None:
    model = _trained_like(_FixedSize())
    conv, bn = model.conv, model.bn
    assert fold_batchnorm(model, torch.randn(2, 1, 4, 4)) == 0
    assert model.conv is conv and model.bn is bn
    assert fold_batchnorm(model, torch.randn(2, 1, 8, 8)) == 1


def test_training_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(build_model("resnet10", num_classes=2, in_channels=1), torch.randn(2, 1, 32, 32))
