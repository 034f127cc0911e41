"""DistributedDataParallel under ``torchrun``: process group, device per rank, batch shares.

``torchrun`` sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; with
``WORLD_SIZE`` > 1 :func:`setup` joins the process group (``nccl`` on CUDA,
``gloo`` on CPU) and ``LOCAL_RANK`` picks the GPU. Every rank builds the same
global batch (same seed, same order, same augmentation draws) and trains on
its contiguous share of it (:func:`share`); the loss of a share is scaled so
that DDP's gradient average equals the one-process gradient of the whole
batch (:func:`share_loss`). Without ``torchrun`` nothing here does anything.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ..predictor import select_device

T = TypeVar("T")

__all__ = ["Dist", "setup", "share", "share_loss", "sync_batchnorm", "wrap"]


@dataclass(frozen=True)
class Dist:
    """This process's place in the run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0: the only rank that writes checkpoints, the log, progress, the report and the bundle."""
        return self.rank == 0

    def all_reduce_(self, t: torch.Tensor, op: dist.ReduceOp.RedOpType = dist.ReduceOp.SUM) -> torch.Tensor:
        if self.enabled:
            dist.all_reduce(t, op=op)
        return t

    def any(self, flag: bool, device: torch.device) -> bool:
        """Whether ``flag`` is true on any rank (so that every rank stops at the same step)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        return bool(self.all_reduce_(t, dist.ReduceOp.MAX).item() > 0)

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (picklable values: decisions that all ranks must share)."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def setup(preferred_device: str | None) -> tuple[Dist, torch.device]:
    """Join the process group when started by torchrun with more than one process.

    Returns:
        ``(Dist, device)``; under DDP on CUDA the device is ``cuda:LOCAL_RANK``.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), select_device(preferred_device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = select_device(preferred_device)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        dist.init_process_group(backend, timeout=timedelta(minutes=30), device_id=device)
    else:
        dist.init_process_group(backend, timeout=timedelta(minutes=30))
    return Dist(rank=rank, world=world, local_rank=local_rank), device


def sync_batchnorm(model: nn.Module, d: Dist, device: torch.device) -> nn.Module:
    """On CUDA under DDP, BatchNorm -> SyncBatchNorm: batch statistics over the global batch, as in one process.

    (PyTorch's SyncBatchNorm runs on CUDA only; on CPU each rank's BatchNorm sees its
    own share, which is why the smoke recipe's net uses GroupNorm.)
    """
    if d.enabled and device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    has_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if d.enabled and has_bn and d.main:
        warnings.warn(
            f"DDP on {device.type}: BatchNorm normalises each rank's share of the batch (no SyncBatchNorm "
            "here), so this run does not follow a one-process run exactly",
            stacklevel=2,
        )
    return model


def wrap(model: nn.Module, d: Dist, device: torch.device) -> nn.Module:
    """DDP-wrap ``model``; unchanged in one process."""
    if not d.enabled:
        return model
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


def share(n: int, d: Dist) -> slice:
    """This rank's contiguous share of a global batch of ``n`` (sizes differ by at most one)."""
    base, extra = divmod(n, d.world)
    start = d.rank * base + min(d.rank, extra)
    return slice(start, start + base + (1 if d.rank < extra else 0))


def share_loss(
    criterion: nn.Module, logits: torch.Tensor, y: torch.Tensor, y_global: torch.Tensor, d: Dist
) -> torch.Tensor:
    """The loss of this rank's share, scaled so DDP's mean of gradients is the global batch's gradient.

    ``criterion``'s mean divides by the global batch's size (or its sum of class
    weights): the share's summed loss over that, times the world size (DDP
    divides by it). In one process this is exactly ``criterion(logits, y)``.
    """
    if not d.enabled:
        return criterion(logits, y)
    if not isinstance(criterion, nn.CrossEntropyLoss):
        raise TypeError(f"distributed training shares a CrossEntropyLoss, not {type(criterion).__name__}")
    per = F.cross_entropy(
        logits, y, weight=criterion.weight, reduction="none", label_smoothing=criterion.label_smoothing
    )
    denom = (
        criterion.weight[y_global].sum()
        if criterion.weight is not None
        else y_global.new_tensor(len(y_global))
    )
    return per.sum() / denom * d.world
