"""``--pretrained imagenet``: start from ImageNet weights, with the preprocessing they expect.

The run's preprocessing is the task's default (``PreprocessSpec.for_task``)
with the options given here applied on top: ``--resize-mode``,
``--crop-foreground`` and ``--normalization`` (``auto``: ImageNet statistics
when the weights are ImageNet's, else the task's). The spec goes into the
checkpoint and the model card, so serving normalises exactly as training did.

Which start wins: ``--resume`` (the checkpoint), then ``--finetune-from`` (the
bundle fixes arch, preprocessing and weights; ``--pretrained`` is ignored, so
a recipe that sets it still fine-tunes a bundle), then ``--pretrained``.
``--init-from`` with ``--pretrained`` is refused: two backbones for one net.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

from torch import nn

from ..nets import available_archs, load_pretrained_weights, pretrained_weights_for
from ..preprocessing import PreprocessSpec

__all__ = ["NORMALIZATIONS", "check_start_options", "load_start_weights", "run_preprocessing"]

NORMALIZATIONS = ("auto", "task", "imagenet")


def check_start_options(args: argparse.Namespace) -> None:
    """Refuse option sets that name two starting points or weights the arch lacks.

    Raises:
        ValueError: One line, for the command line.
    """
    weights = getattr(args, "pretrained", None)
    if not weights or getattr(args, "finetune_from", None):
        return
    if getattr(args, "init_from", None):
        raise ValueError("--init-from and --pretrained both name a backbone; give one")
    if weights not in pretrained_weights_for(args.arch):
        raise ValueError(
            f"--pretrained {weights}: architecture {args.arch} has no such weights "
            f"(these have them: {', '.join(a for a in available_archs() if weights in pretrained_weights_for(a))})"
        )


def run_preprocessing(args: argparse.Namespace, dataset: str) -> PreprocessSpec:
    """The preprocessing of a run that does not fine-tune a bundle (see the module docstring)."""
    spec = PreprocessSpec.for_task(dataset, args.input_size)
    changes: dict[str, Any] = {}
    if getattr(args, "resize_mode", None):
        changes["resize_mode"] = args.resize_mode
    if getattr(args, "crop_foreground", None) is not None:
        changes["crop_foreground"] = args.crop_foreground
    if getattr(args, "foreground_mode", None):
        changes["foreground_mode"] = args.foreground_mode
        changes["crop_foreground"] = True if args.crop_foreground is None else args.crop_foreground
    spec = replace(spec, **changes)
    normalization = getattr(args, "normalization", "auto") or "auto"
    if normalization == "auto":
        normalization = "imagenet" if getattr(args, "pretrained", None) == "imagenet" else "task"
    return spec.with_imagenet_stats() if normalization == "imagenet" else spec


def load_start_weights(model: nn.Module, args: argparse.Namespace) -> dict[str, Any] | None:
    """Load ``--pretrained``'s weights into a fresh ``model``; provenance for the card, or None."""
    weights = getattr(args, "pretrained", None)
    if not weights:
        return None
    return load_pretrained_weights(model, args.arch, weights)
