"""Train an image classifier from a data folder (torchvision-references style).

Example (no Django involved)::

    python -m oncocore.training.train --data-dir ../shared/data/brain_mri --task brain_mri \\
        --arch resnet18 --input-size 224 --epochs 200 --output-dir runs/brain-r18 \\
        --export-bundle var/models/brain-r18

The run directory receives ``checkpoint.pt`` (last epoch, for ``--resume``),
``best.pt`` (best validation macro-F1), ``log.jsonl`` (one JSON object per
epoch) and, with ``--export-bundle``, ``report/`` with the evaluation.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..nets import build_model
from ..preprocessing import PreprocessSpec
from .args import get_args_parser
from .augment import make_augment
from .checkpoint import export_bundle, load_checkpoint, make_scheduler, save_checkpoint
from .data import (
    CARD_TASKS,
    GROUP_COLUMNS,
    MODALITIES,
    BatchLoader,
    CachedImageDataset,
    group_split,
    limit_per_class,
    manifest_digest,
    read_manifest,
)
from .loops import evaluate, recompute_bn_stats, train_one_epoch
from .pretrain import init_from_pretrained
from .runs import param_groups, seed_everything, start_run

__all__ = ["evaluate", "get_args_parser", "main", "recompute_bn_stats", "seed_everything", "train_one_epoch"]


def split_seed_of(args: argparse.Namespace) -> int:
    """The train/validation split seed: ``--split-seed``, else ``--seed``."""
    split_seed = getattr(args, "split_seed", None)
    return args.seed if split_seed is None else split_seed


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Run training (and optional export); returns a summary dict."""
    started = time.monotonic()
    out, device, amp = start_run(args)
    group_col = GROUP_COLUMNS[args.task]
    split_seed = split_seed_of(args)
    rows = read_manifest(args.data_dir)
    if args.limit_per_class:
        rows = limit_per_class(rows, args.limit_per_class, group_col, split_seed)
    train_rows, val_rows = group_split(rows, group_col, args.val_fraction, split_seed)
    classes = sorted({r["class"] for r in rows})
    spec = PreprocessSpec.for_task(args.task, args.input_size)
    ckpt = load_checkpoint(args.resume) if args.resume else None
    if ckpt is not None and (ckpt["classes"] != classes or ckpt["preprocessing"] != spec.to_dict()):
        raise ValueError("checkpoint classes/preprocessing differ from this run's data and options")

    cache_dev = device if args.cache_on_device else torch.device("cpu")
    datasets = {
        name: CachedImageDataset(
            r,
            spec,
            classes,
            num_workers=args.workers,
            cache_file=out / f"cache_{name}.pt" if args.cache_file else None,
        ).to(cache_dev)
        for name, r in (("train", train_rows), ("val", val_rows))
    }
    counts = datasets["train"].class_counts()
    train_loader = BatchLoader(
        datasets["train"],
        args.batch_size,
        shuffle=True,
        balanced=args.imbalance == "sampler",
        seed=args.seed,
        device=device,
    )
    val_loader = BatchLoader(datasets["val"], args.batch_size * 2, device=device)
    bn_loader = BatchLoader(datasets["train"], args.batch_size, device=device)  # in order, no augmentation

    model = build_model(args.arch, num_classes=len(classes), in_channels=spec.channels).to(device)
    pretrained = None
    if getattr(args, "init_from", None) and ckpt is None:
        pretrained = init_from_pretrained(
            model, args.init_from, arch=args.arch, task=args.task, val_rows=val_rows
        )
    elif ckpt is not None:
        pretrained = ckpt.get("pretrained")
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(param_groups(model, args.weight_decay), lr=args.lr)
    micro = (
        min(len(train_loader), args.max_steps_per_epoch) if args.max_steps_per_epoch else len(train_loader)
    )
    per_epoch = math.ceil(micro / args.accum_steps)
    scheduler = make_scheduler(
        optimizer, per_epoch * args.epochs, round(per_epoch * args.warmup_epochs), args.min_lr_ratio
    )
    weight = None
    if args.imbalance == "weights":  # inverse frequency, mean weight 1
        weight = torch.tensor([len(train_rows) / (len(classes) * max(c, 1)) for c in counts], device=device)
    criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=args.label_smoothing)
    augment = make_augment(
        "none" if args.augment == "none" else MODALITIES[args.task],
        "strong" if args.augment == "strong" else "standard",
    )

    # The weight average: smoother than the last step's weights when validation swings
    # from epoch to epoch (few validation groups, BatchNorm statistics that jump).
    ema = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema_decay), use_buffers=True)
        if getattr(args, "ema_decay", 0.0) > 0
        else None
    )
    start, best, best_epoch, stale = 0, -1.0, -1, 0
    if ckpt is not None:
        # With EMA, "model" holds the average (what best.pt exports) and "train_model" the raw weights.
        model.load_state_dict(ckpt.get("train_model", ckpt["model"]))
        if ema is not None and "train_model" in ckpt:
            ema.module.load_state_dict(ckpt["model"])
            ema.n_averaged.fill_(ckpt.get("ema_steps", 1))
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start, best, best_epoch, stale = (
            ckpt["epoch"] + 1,
            ckpt["best_metric"],
            ckpt["best_epoch"],
            ckpt["epochs_since_best"],
        )
    log_path = out / "log.jsonl"
    generator = torch.Generator(device=device)
    budget_s = 60.0 * getattr(args, "time_budget_minutes", 0.0)
    time_stop = False
    for epoch in range(start, args.epochs):
        if stale >= args.patience:
            break
        t0 = time.perf_counter()
        # Per-epoch reseeding makes a resumed run replay exactly what a
        # continuous run would have done.
        torch.manual_seed(args.seed * 1000 + epoch)
        generator.manual_seed(args.seed * 1000 + epoch)
        train_loader.set_epoch(epoch)
        stats = train_one_epoch(
            model,
            train_loader,
            optimizer,
            scheduler,
            criterion,
            spec=spec,
            device=device,
            augment=augment,
            generator=generator,
            amp=amp,
            accum_steps=args.accum_steps,
            clip_grad=args.clip_grad,
            max_steps=args.max_steps_per_epoch,
            epoch=epoch,
            progress=not args.no_progress,
            ema=ema,
            mixup_alpha=getattr(args, "mixup_alpha", 0.0),
            cutmix_alpha=getattr(args, "cutmix_alpha", 0.0),
        )
        judged = ema.module if ema is not None else model
        if getattr(args, "precise_bn", False):
            recompute_bn_stats(judged, bn_loader, spec=spec, device=device, amp=amp)
        val = evaluate(judged, val_loader, spec=spec, device=device, class_names=classes, amp=amp)
        improved = val["macro_f1"] > best
        best, best_epoch, stale = (val["macro_f1"], epoch, 0) if improved else (best, best_epoch, stale + 1)
        state = {
            "model": judged.state_dict(),
            **(
                {"train_model": model.state_dict(), "ema_steps": int(ema.n_averaged)}
                if ema is not None
                else {}
            ),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "args": vars(args),
            "classes": classes,
            "preprocessing": spec.to_dict(),
            "best_metric": best,
            "best_epoch": best_epoch,
            "epochs_since_best": stale,
            "pretrained": pretrained,
        }
        save_checkpoint(out / "checkpoint.pt", state)
        if improved:
            save_checkpoint(out / "best.pt", state)
        record = {
            "epoch": epoch,
            **stats,
            "val_loss": val["loss"],
            "val_accuracy": val["accuracy"],
            "val_macro_f1": val["macro_f1"],
            "val_balanced_accuracy": val["balanced_accuracy"],
            "val_ece": val["ece"],
            "best_macro_f1": best,
            "seconds": time.perf_counter() - t0,
        }
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        # Time budget: stop (checkpoint saved above) when one more epoch, with
        # a 50 % margin, would run past it; at least one epoch runs per call.
        more = epoch + 1 < args.epochs and stale < args.patience
        if budget_s > 0 and more and time.monotonic() - started + 1.5 * (time.perf_counter() - t0) > budget_s:
            time_stop = True
            break

    summary: dict[str, Any] = {"best_macro_f1": best, "best_epoch": best_epoch, "output_dir": str(out)}
    if time_stop:
        summary["time_budget_stop"] = True
        summary["next_epoch"] = epoch + 1
        summary["resume"] = str(out / "checkpoint.pt")
    if args.export_bundle and not time_stop:
        card_task = args.card_task or CARD_TASKS[args.task]
        training_data = {
            "dataset": args.task,
            "data_dir": str(args.data_dir),
            "manifest_sha256": manifest_digest(rows),
            "group_column": group_col,
            "val_fraction": args.val_fraction,
            "split_seed": split_seed,
            "n_train": len(train_rows),
            "n_val": len(val_rows),
            "class_counts_train": dict(zip(classes, counts, strict=True)),
            "licence": "see SOURCE_AND_LICENSE.md in the data folder",
        }
        if pretrained:
            training_data["pretrained_backbone"] = pretrained
        card = export_bundle(
            out / "best.pt",
            args.export_bundle,
            val_loader=val_loader,
            device=device,
            card_task=card_task,
            dataset=args.task,
            training_data=training_data,
            name=args.model_name,
            version=args.model_version,
            report_dir=out / "report",
            log_path=log_path,
            amp=amp,
            half=args.half,
            overwrite=True,
        )
        summary["bundle"] = {
            "dir": str(args.export_bundle),
            "name": card.name,
            "version": card.version,
            "temperature": card.temperature,
        }
    return summary


if __name__ == "__main__":
    print(json.dumps(main(get_args_parser().parse_args()), indent=2))
