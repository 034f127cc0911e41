"""Schedules, resumable checkpoints and bundle export for ``train.py``."""

from __future__ import annotations

import math
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..nets import build_model
from ..preprocessing import PreprocessSpec
from ..registry import ModelCard, save_bundle
from .evaluate import build_report, predict_logits

PathLike = str | Path

#: Optional class -> parent grouping written to model cards.
CLASS_HIERARCHY = {
    "brain_mri": {"glioma": "tumour", "meningioma": "tumour", "pituitary": "tumour", "notumor": "no_tumour"},
    "lung_ct": {"malignant": "malignant", "benign": "non_malignant", "normal": "non_malignant"},
    "histo_lung": {
        "lung_adenocarcinoma": "carcinoma",
        "lung_squamous_cell_carcinoma": "carcinoma",
        "lung_benign": "benign",
    },
}

LIMITATIONS = {
    "brain_mri": "The notumor images come from other sources and sequences than the tumour images, so the "
    "model may partly recognise the sequence instead of the pathology; check the saliency map. "
    "No patient IDs: some same-patient leakage between train and validation may remain.",
    "lung_ct": "Single-slice classification of IQ-OTH/NCCD slices; the benign class has few patient groups, "
    "so its figures are noisy and its recall is typically low.",
    "histo_lung": "LC25000 tiles are augmented copies of a small number of originals; validation holds out "
    "whole originals, but external stains and scanners are untested.",
}


def weights_origin(training_data: dict[str, Any]) -> str:
    """How the weights came about, for the card's limitations."""
    n = training_data.get("n_train", "?")
    parent = training_data.get("finetuned_from")
    if parent:
        return (
            f"Fine-tuned on {n} images from model {parent['name']} {parent['version']} "
            f"(head: {parent['head']})"
        )
    imagenet = training_data.get("pretrained_weights")
    if imagenet:
        return (
            f"Fine-tuned on {n} images from {imagenet.get('arch_variant', 'a backbone')} ImageNet-1k weights "
            f"({imagenet.get('distribution', '?')} {imagenet.get('version', '?')}, natural photographs, "
            "not medical images)"
        )
    pre = training_data.get("pretrained_backbone")
    if not pre:
        return f"Trained from scratch on {n} images"
    total = sum(d.get("n_train", 0) for d in pre.get("datasets", {}).values())
    return (
        f"Fine-tuned on {n} images from a backbone pre-trained (multi-task, from scratch) on the training "
        f"sides of {', '.join(sorted(pre.get('datasets', {})))} ({total} images, none of this validation split)"
    )


def make_scheduler(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int, min_lr_ratio: float = 0.01
) -> LambdaLR:
    """Linear warm-up from ~0 to the base LR, then cosine decay to ``min_lr_ratio`` x base.

    Stepped once per optimizer step (not per epoch).
    """
    total_steps, warmup_steps = max(1, total_steps), max(0, min(warmup_steps, total_steps - 1))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def save_checkpoint(path: PathLike, state: dict[str, Any]) -> None:
    """Atomically write a checkpoint dict (tmp file + rename)."""
    tmp = Path(str(path) + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: PathLike) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (tensors on CPU).

    ``weights_only=True``: checkpoints hold only tensors and plain Python
    values, so no arbitrary code runs when loading one.
    """
    return torch.load(path, map_location="cpu", weights_only=True)


def export_bundle(
    checkpoint_path: PathLike,
    out_dir: PathLike,
    *,
    val_loader: Any,
    device: torch.device,
    card_task: str,
    dataset: str,
    training_data: dict[str, Any],
    name: str | None = None,
    version: str | None = None,
    report_dir: PathLike | None = None,
    log_path: PathLike | None = None,
    amp: bool = False,
    half: bool = False,
    overwrite: bool = False,
    test: tuple[Any, Any] | None = None,
) -> ModelCard:
    """Turn a (best) checkpoint into a registry bundle with a calibrated card.

    The temperature is fitted by NLL on the validation logits and stored on
    the card; the evaluation report (JSON, Markdown, figures) goes to
    ``report_dir`` and its headline metrics into ``card.metrics``.

    Args:
        checkpoint_path: Checkpoint with model, args, classes, preprocessing.
        out_dir: Bundle folder to write.
        val_loader: Batches of (uint8 (B, C, S, S), int64 (B,)) validation data.
        device: Device for computing validation logits.
        card_task: Task key for the card (Django ``Task`` value).
        dataset: Dataset folder key (brain_mri, lung_ct, histo_lung).
        training_data: Data reference stored on the card.
        name: Model name; default ``"<card_task>-<arch>"``.
        version: Version; default a UTC timestamp.
        report_dir: Where to write the evaluation report (optional).
        log_path: Training log for the curves figure.
        amp: bf16 autocast for the validation pass.
        half: Store float16 weights.
        overwrite: Replace an existing bundle.
        test: ``(logits, targets)`` of this checkpoint on a held-out test split, measured
            once: reported with and without the validation-fitted temperature.

    Returns:
        The card as written.
    """
    ckpt = load_checkpoint(checkpoint_path)
    args, classes = ckpt["args"], list(ckpt["classes"])
    spec = PreprocessSpec.from_dict(ckpt["preprocessing"])
    model = build_model(args["arch"], num_classes=len(classes), in_channels=spec.channels)
    model.load_state_dict(ckpt["model"])
    model.to(device)
    logits, targets = predict_logits(model, val_loader, spec, device, amp=amp)
    report = build_report(
        logits,
        targets,
        classes,
        out_dir=report_dir,
        log_path=log_path,
        title=f"{card_task} {args['arch']} (epoch {ckpt['epoch']}) validation",
    )
    summary_keys = ("accuracy", "balanced_accuracy", "macro_f1", "macro_auc", "nll", "ece", "n")
    metrics = {
        "split": "validation (group-held-out)",
        "best_epoch": ckpt["epoch"],
        "uncalibrated": {k: report["uncalibrated"][k] for k in summary_keys},
        "calibrated": {k: report["calibrated"][k] for k in summary_keys},
        "per_class": report["calibrated"]["per_class"],
        "confusion_matrix": report["calibrated"]["confusion_matrix"],
    }
    if test is not None:
        test_report = build_report(
            test[0],
            test[1],
            classes,
            temperature=report["temperature"],
            out_dir=Path(report_dir) / "test" if report_dir is not None else None,
            title=f"{card_task} {args['arch']} (epoch {ckpt['epoch']}) test",
        )
        metrics["test"] = {
            "split": "test (held out by the snapshot, evaluated once with the best checkpoint)",
            "uncalibrated": {k: test_report["uncalibrated"][k] for k in summary_keys},
            "calibrated": {k: test_report["calibrated"][k] for k in summary_keys},
            "per_class": test_report["calibrated"]["per_class"],
            "confusion_matrix": test_report["calibrated"]["confusion_matrix"],
        }
    hierarchy = {c: p for c, p in CLASS_HIERARCHY.get(dataset, {}).items() if c in classes} or None
    card = ModelCard(
        name=name or f"{card_task}-{args['arch']}",
        version=version or datetime.now(UTC).strftime("%Y%m%d.%H%M%S"),
        task=card_task,
        arch=args["arch"],
        class_names=tuple(classes),
        preprocessing=spec,
        class_hierarchy=hierarchy,
        training_data=training_data,
        metrics=metrics,
        temperature=report["temperature"],
        intended_use=(
            "Research decision support: a second reader that proposes a class and shows where "
            "the network looked. Not a medical device; a qualified reviewer must confirm every result."
        ),
        limitations=(
            weights_origin(training_data) + " and validated on group-held-out images of the same sources, "
            "not on external data. " + LIMITATIONS.get(dataset, "")
        ),
        untrained=False,
        extra={"checkpoint_args": args},
    )
    return save_bundle(out_dir, model, card, half=half, overwrite=overwrite)
