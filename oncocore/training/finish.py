"""The end of a run, on rank 0: test evaluation with ``best.pt``, then the bundle, written atomically."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..nets import build_model
from .checkpoint import export_bundle, load_checkpoint
from .data import BatchLoader, CachedImageDataset
from .evaluate import predict_logits
from .metrics import classification_metrics, softmax
from .progress import Progress, StopSignal
from .sources import RunData

__all__ = ["export_atomically", "finish"]

#: Validation figures the progress file carries (the log has the rest).
VAL_KEYS = ("loss", "accuracy", "balanced_accuracy", "macro_f1", "macro_auc", "ece")


def export_atomically(target: str | Path, write: Any, stop: StopSignal) -> Any:
    """``write(tmp_dir)`` into ``<target>.tmp-<pid>``, then rename it to ``target`` (replacing it)."""
    target = Path(target)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        result = write(tmp)
        stop.check()
        if target.exists():
            old = target.with_name(f"{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def finish(
    args: argparse.Namespace,
    data: RunData,
    datasets: dict[str, CachedImageDataset],
    classes: list[str],
    counts: list[int],
    time_stop: bool,
    epoch: int,
    device: torch.device,
    amp: bool,
    stop: StopSignal,
    progress: Progress,
) -> dict[str, Any]:
    """Rank 0, after the last epoch: test evaluation with best.pt, then the bundle."""
    out = Path(args.output_dir)
    summary: dict[str, Any] = {}
    if time_stop:
        return {"time_budget_stop": True, "next_epoch": epoch + 1, "resume": str(out / "checkpoint.pt")}
    val_loader = BatchLoader(datasets["val"], args.batch_size * 2, device=device)
    test = None
    if "test" in datasets:
        progress.update(phase="testing")
        best = load_checkpoint(out / "best.pt")
        net = build_model(args.arch, num_classes=len(classes), in_channels=datasets["test"].spec.channels)
        net.load_state_dict(best["model"])
        loader = BatchLoader(datasets["test"], args.batch_size * 2, device=device)
        test = predict_logits(net.to(device), loader, datasets["test"].spec, device, amp=amp)
        metrics = classification_metrics(softmax(test[0]), test[1], classes)
        summary["test"] = {k: metrics.get(k) for k in ("n", *VAL_KEYS[1:])}
        (out / "test_metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    stop.check()
    if not args.export_bundle:
        return summary
    progress.update(phase="exporting")
    training_data = {
        **data.training_data,
        "n_train": len(data.train),
        "n_val": len(data.val),
        "n_test": len(data.test),
        "class_counts_train": dict(zip(classes, counts, strict=True)),
    }
    ckpt_meta = load_checkpoint(out / "best.pt")
    if ckpt_meta.get("pretrained"):
        training_data["pretrained_backbone"] = ckpt_meta["pretrained"]
    if ckpt_meta.get("finetuned_from"):
        training_data["finetuned_from"] = ckpt_meta["finetuned_from"]
    if ckpt_meta.get("pretrained_weights"):
        training_data["pretrained_weights"] = ckpt_meta["pretrained_weights"]

    def write(tmp: Path) -> Any:
        return export_bundle(
            out / "best.pt",
            tmp,
            val_loader=val_loader,
            device=device,
            card_task=data.card_task,
            dataset=data.dataset,
            training_data=training_data,
            name=args.model_name,
            version=args.model_version,
            report_dir=out / "report",
            log_path=out / "log.jsonl",
            amp=amp,
            half=args.half,
            overwrite=True,
            test=test,
        )

    card = export_atomically(args.export_bundle, write, stop)
    summary["bundle"] = {
        "dir": str(args.export_bundle),
        "name": card.name,
        "version": card.version,
        "temperature": card.temperature,
        "weights_sha256": card.weights_sha256,
    }
    progress.update(bundle=summary["bundle"])
    return summary
