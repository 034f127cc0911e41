"""Serving-time folding of BatchNorm into the convolution before it.

In eval mode a BatchNorm is an affine map per channel, so a convolution
followed by one equals a single convolution with scaled weights and a bias.
Folding them removes one pass over every feature map: on this project's CPU the
Lite0 brain model's forward + Grad-CAM went from about 26 to 14 ms an image
(both in NHWC memory format, docs/performance.md). Training never folds: the statistics are
still being learned there.

Which convolution feeds which BatchNorm is read off a real forward pass
(hooks), not off the order the modules were registered in. The model is folded
in place and its output checked against the original's on the same input; on
any difference the original modules are put back.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

__all__ = ["fold_batchnorm"]


def _conv_bn_pairs(model: nn.Module, example: torch.Tensor) -> tuple[list[tuple[str, str]], torch.Tensor]:
    """(conv name, bn name) where the BatchNorm's input is exactly that convolution's output, alone.

    A convolution whose output also reaches another module, or a BatchNorm fed
    by anything else, is left out. Also returns the model's output on ``example``.
    """
    names = {id(m): n for n, m in model.named_modules()}
    produced: dict[int, str] = {}  # id(output tensor) -> conv name
    consumers: dict[int, list[str]] = {}  # id(input tensor) -> names of the leaf modules reading it
    keep: list[torch.Tensor] = []  # every tensor seen stays alive, so ids stay unique during the pass
    handles = []

    def pre(module: nn.Module, args: tuple[object, ...]) -> None:
        for a in args:
            if isinstance(a, torch.Tensor):
                keep.append(a)
                consumers.setdefault(id(a), []).append(names[id(module)])

    def post(module: nn.Module, _args: object, out: object) -> None:
        if isinstance(out, torch.Tensor):
            keep.append(out)
            produced[id(out)] = names[id(module)]

    for module in model.modules():
        if next(module.children(), None) is None:  # leaf modules only
            handles.append(module.register_forward_pre_hook(pre))
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(post))
    try:
        with torch.no_grad():
            output = model(example).float()
    finally:
        for h in handles:
            h.remove()
    modules = dict(model.named_modules())
    pairs = []
    for tensor_id, conv in produced.items():
        readers = consumers.get(tensor_id, [])
        if len(readers) == 1 and isinstance(modules[readers[0]], nn.BatchNorm2d):
            pairs.append((conv, readers[0]))
    return pairs, output


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, attr, module)


def fold_batchnorm(model: nn.Module, example: torch.Tensor, *, atol: float = 1e-4) -> int:
    """Fold, in place, each BatchNorm of ``model`` (in eval mode) into the convolution feeding it.

    The convolution is replaced by a folded copy and the BatchNorm by an
    ``Identity``; nothing else is copied (model loading stays cheap: a naive
    worker loads the model for every image). If the folded model's output on
    ``example`` differs from the original's, every replaced module is put back.

    Args:
        model: Classifier in eval mode.
        example: An input batch on the model's device (any values; a small side
            is enough, the folding does not depend on it).
        atol: Largest absolute difference of the logits, relative to their
            scale, that the folded model may show on ``example``.

    Returns:
        The number of BatchNorms folded (0: the model is as it was, also when
        it cannot run on ``example``).
    """
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode")
    try:
        pairs, want = _conv_bn_pairs(model, example)
    except RuntimeError:  # a net that cannot run on the small example: served as it is
        return 0
    replaced: list[tuple[str, nn.Module]] = []
    for conv_name, bn_name in pairs:
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
        replaced += [(conv_name, conv), (bn_name, bn)]
        _set(model, conv_name, fuse_conv_bn_eval(conv, bn))  # a copy of the conv, subclass kept
        _set(model, bn_name, nn.Identity())
    if not pairs:
        return 0
    try:
        with torch.no_grad():
            got = model(example).float()
        same = torch.allclose(got, want, rtol=0.0, atol=max(1.0, float(want.abs().max())) * atol)
    except RuntimeError:
        same = False
    if not same:
        for name, module in reversed(replaced):
            _set(model, name, module)
        return 0
    return len(pairs)
