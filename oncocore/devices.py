"""Where a model runs, and decoding ahead of it: the device choice and the batch-ahead thread pool."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

import torch

__all__ = ["iter_prepared", "prefers_channels_last", "select_device"]

T = TypeVar("T")
R = TypeVar("R")


def select_device(preferred: str | torch.device | None = None) -> torch.device:
    """Return ``preferred`` if given, else the first of cuda, mps, cpu available."""
    if preferred is not None:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def prefers_channels_last(device: torch.device) -> bool:
    """Whether convolutions run faster on NHWC tensors on this device: CUDA, and the CPU too.

    On this project's 2-core CPU (oneDNN) the Lite0 forward took 0.6x the time
    in NHWC, 0.35x with BatchNorm folded as well; a training step 0.6x
    (docs/performance.md). Training and serving read this one answer.
    """
    return device.type in ("cuda", "cpu")


def iter_prepared(
    items: Iterable[T], prepare: Callable[[T], R], *, batch_size: int, num_workers: int = 2
) -> Iterator[list[R]]:
    """Yield ``[prepare(x) for x in batch]`` batch by batch, in input order.

    The next batch is submitted to a thread pool before the current one is
    yielded, so decoding/preprocessing (PIL releases the GIL) overlaps
    whatever the caller does with the current batch, e.g. the forward pass.
    Exceptions raised by ``prepare`` propagate when their batch is reached.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    it = iter(items)
    with ThreadPoolExecutor(max_workers=max(1, num_workers), thread_name_prefix="prep") as pool:

        def submit() -> list[Future[R]]:
            return [pool.submit(prepare, x) for x in islice(it, batch_size)]

        pending = submit()
        while pending:
            upcoming = submit()
            yield [f.result() for f in pending]
            pending = upcoming
