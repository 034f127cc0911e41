"""What every training entry point does first: seed, create the run folder, pick the device.

Shared by ``train`` (fine-tuning) and ``pretrain`` (the multi-task backbone),
which must not import each other.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..predictor import select_device

__all__ = ["param_groups", "seed_everything", "start_run"]


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW parameter groups: weight decay on weight matrices and kernels only."""
    # Decay only weight matrices/kernels; decaying norms and biases hurts.
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def start_run(args: argparse.Namespace) -> tuple[Path, torch.device, bool]:
    """Create the run dir, seed everything, pick the device and bf16 autocast (on by default on CUDA)."""
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    seed_everything(args.seed)
    device = select_device(args.device)
    return out, device, device.type == "cuda" if args.amp is None else args.amp
