"""Grad-CAM: the low-resolution serving pass and the pytorch_grad_cam reference it is tested against."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn


@overload
def gradcam(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layer: nn.Module,
    class_indices: Sequence[int] | None = None,
    *,
    return_logits: Literal[False] = False,
) -> np.ndarray: ...


@overload
def gradcam(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layer: nn.Module,
    class_indices: Sequence[int] | None = None,
    *,
    return_logits: Literal[True],
) -> tuple[np.ndarray, torch.Tensor]: ...


def gradcam(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layer: nn.Module,
    class_indices: Sequence[int] | None = None,
    *,
    return_logits: bool = False,
) -> np.ndarray | tuple[np.ndarray, torch.Tensor]:
    """Grad-CAM for a batch.

    Safe to call from inside ``torch.inference_mode()`` / ``torch.no_grad()``
    and under autocast: it re-enables autograd locally, clones the input out of
    inference mode and runs the model in float32 (grad-cam converts
    activations to numpy, which has no bfloat16).

    Args:
        model: Classifier, in eval mode, whose parameters require grad.
        inputs: Preprocessed batch, float32 (B, C, H, W), on the model's device.
        target_layer: Module whose (B, K, h, w) output is weighted (see
            ``oncocore.nets.gradcam_target_layer``).
        class_indices: Class to explain for each image; default: the argmax.
        return_logits: Also return the float32 (B, K) logits of the same
            forward pass, so a caller needs no separate forward.

    Returns:
        float32 (B, H, W), each map min-max scaled to [0, 1] (all zeros when
        the positive evidence is nil), at input resolution; with
        ``return_logits``, the pair (maps, logits).
    """
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be (B, C, H, W), got {tuple(inputs.shape)}")
    if class_indices is not None and len(class_indices) != inputs.shape[0]:
        raise ValueError("class_indices must have one entry per image")
    targets = None if class_indices is None else [ClassifierOutputTarget(int(i)) for i in class_indices]
    device_type = inputs.device.type
    with torch.inference_mode(False), torch.enable_grad():
        # A tensor created under inference_mode cannot enter autograd; a clone
        # made outside it can.
        x = inputs.detach().clone().float()
        autocast_off = (
            torch.autocast(device_type=device_type, enabled=False)
            if device_type in ("cuda", "cpu", "mps")
            else contextlib.nullcontext()
        )
        cam = GradCAM(model=model, target_layers=[target_layer])
        try:
            with autocast_off:
                maps = cam(input_tensor=x, targets=targets)  # (B, H, W)
            logits = cam.outputs.detach().float()  # (B, K), the pass that made the maps
        finally:
            # Not used as a context manager: GradCAM.__exit__ swallows IndexError.
            cam.activations_and_grads.release()
            model.zero_grad(set_to_none=True)  # free the parameter gradients
    maps = np.clip(
        np.nan_to_num(np.asarray(maps, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0
    )
    # grad-cam divides by (max + 1e-7), which leaves weak but real maps well
    # below 1; rescale so every non-empty map peaks at exactly 1.
    peak = maps.reshape(maps.shape[0], -1).max(axis=1)[:, None, None]  # (B, 1, 1)
    maps = np.where(peak > 0, maps / np.maximum(peak, 1e-30), 0.0).astype(np.float32)
    return (maps, logits) if return_logits else maps


def gradcam_lowres(
    model: nn.Module,
    inputs: torch.Tensor,
    target_layer: nn.Module,
    class_indices: Sequence[int] | None = None,
) -> tuple[np.ndarray, torch.Tensor]:
    """Grad-CAM at the target layer's own resolution, and the logits of the same pass.

    The same map ``pytorch_grad_cam.GradCAM`` computes before it upsamples:
    weights = spatial mean of d(score)/dA, map = relu(sum_k w_k A_k), min-max
    scaled. Only the gradient with respect to the layer's activations is
    taken (``torch.autograd.grad``), so the backward pass stops at the target
    layer instead of running through the whole network into every
    parameter: for a ResNet that is the pooling and the classifier only. The
    layers before the target one run without autograd bookkeeping at all.

    Safe under ``torch.inference_mode()`` and autocast, like :func:`gradcam`.

    Args:
        model: Classifier in eval mode.
        inputs: float32 (B, C, H, W) on the model's device.
        target_layer: Module whose (B, K, h, w) output is weighted.
        class_indices: Class to explain per image; default: the argmax.

    Returns:
        ``(maps, logits)``: float32 (B, h, w) in [0, 1] (each non-empty map
        spans [0, 1]; all zeros when the positive evidence is nil), and the
        float32 (B, K) logits.
    """
    if inputs.ndim != 4:
        raise ValueError(f"inputs must be (B, C, H, W), got {tuple(inputs.shape)}")
    if class_indices is not None and len(class_indices) != inputs.shape[0]:
        raise ValueError("class_indices must have one entry per image")
    captured: list[torch.Tensor] = []

    def hook(_module: nn.Module, _inputs: Any, out: torch.Tensor) -> torch.Tensor:
        # The layers up to here ran without autograd bookkeeping (no_grad
        # below); from here on autograd records, with these activations as
        # the leaf whose gradient Grad-CAM needs. Leaving no_grad restores
        # the caller's grad mode.
        torch.set_grad_enabled(True)
        leaf = out.detach().requires_grad_(True)
        captured.append(leaf)
        return leaf

    handle = target_layer.register_forward_hook(hook)
    device_type = inputs.device.type
    autocast_off = (
        torch.autocast(device_type=device_type, enabled=False)
        if device_type in ("cuda", "cpu", "mps")
        else contextlib.nullcontext()
    )
    try:
        with torch.inference_mode(False), autocast_off:
            x = inputs.detach().clone().float()  # out of inference mode, so autograd may record
            with torch.no_grad():
                logits = model(x).float()
            if not captured:
                raise ValueError("the Grad-CAM target layer did not run in the forward pass")
            acts = captured[-1]
            if class_indices is None:
                chosen = logits.argmax(1)
            else:
                chosen = torch.as_tensor([int(i) for i in class_indices], device=logits.device)
            if not logits.requires_grad:
                raise ValueError("the Grad-CAM target layer's output does not reach the logits")
            score = logits.gather(1, chosen.view(-1, 1)).sum()
            (grads,) = torch.autograd.grad(score, acts)
        with torch.no_grad():
            weights = grads.float().mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1)
            cams = torch.relu((weights * acts.detach().float()).sum(1))  # (B, h, w)
    finally:
        handle.remove()
    maps = np.nan_to_num(cams.cpu().numpy().astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    lo = maps.reshape(maps.shape[0], -1).min(axis=1)[:, None, None]
    maps = maps - lo
    hi = maps.reshape(maps.shape[0], -1).max(axis=1)[:, None, None]
    maps = np.where(hi > 0, maps / np.maximum(hi, 1e-30), 0.0).astype(np.float32)
    return maps, logits.detach()
