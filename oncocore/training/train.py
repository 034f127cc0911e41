"""Train an image classifier from a data folder or a snapshot (torchvision-references style).

Examples (no Django involved)::

    python -m oncocore.training.train --data-dir ../shared/data/brain_mri --task brain_mri \\
        --arch resnet18 --input-size 224 --epochs 200 --output-dir runs/brain-r18 \\
        --export-bundle var/models/brain-r18

    python -m oncocore.training.train --data-dir var/snapshots/brain-v3 --recipe quick \\
        --finetune-from var/models/brain-r18 --output-dir runs/brain-v3 \\
        --progress-file runs/brain-v3/progress.json --export-bundle var/models/brain-v3

    torchrun --standalone --nproc_per_node 4 -m oncocore.training.train ...   # the same, on 4 GPUs

``--data-dir`` is a data folder (``MANIFEST.tsv``; split here by group) or an
exported snapshot (``manifest.csv`` + ``dataset_card.json``; its own
train/val/test split, see ``sources.py``). ``--recipe`` sets option defaults
(``recipes.py``), ``--finetune-from`` starts from a bundle (``finetune.py``),
``--progress-file`` keeps a JSON progress record and SIGTERM stops the run
between steps (``progress.py``).

The run directory receives ``checkpoint.pt`` (last epoch, for ``--resume``),
``best.pt`` (best validation macro-F1), ``log.jsonl`` (one JSON object per
epoch) and, with ``--export-bundle``, ``report/`` with the evaluation (and
``report/test/`` for a snapshot's test split). The bundle is written to
``DIR.tmp-<pid>`` and renamed to ``DIR`` at the very end.

**Distributed** (``distributed.py``): under ``torchrun`` with more than one
process, each process joins the group (gloo on CPU, nccl on CUDA with
``LOCAL_RANK``'s GPU), the model is wrapped in DistributedDataParallel and
every rank trains on its share of every global batch: ``--batch-size`` stays
the global batch, so a run on N processes follows the one-process run of the
same seed. BatchNorm becomes SyncBatchNorm on CUDA. Rank 0 alone validates
and writes checkpoints, the log, the progress file, the report and the bundle;
``--resume`` works the same (every rank reads the checkpoint).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ..devices import prefers_channels_last
from ..nets import build_model
from .args import get_args_parser, parse_args
from .augment import make_augment
from .checkpoint import load_checkpoint, make_scheduler, save_checkpoint
from .data import BatchLoader, CachedImageDataset
from .distributed import Dist, setup, sync_batchnorm, wrap
from .finetune import finetune_plan, load_finetune_weights
from .finish import VAL_KEYS, finish
from .imagenet import check_start_options, load_start_weights, run_preprocessing
from .loops import evaluate, recompute_bn_stats, train_one_epoch
from .pretrain import init_from_pretrained
from .progress import Progress, StopRequested, StopSignal
from .runs import param_groups, seed_everything
from .sources import load_run_data

__all__ = ["evaluate", "get_args_parser", "main", "recompute_bn_stats", "seed_everything", "train_one_epoch"]


def split_seed_of(args: argparse.Namespace) -> int:
    """The train/validation split seed: ``--split-seed``, else ``--seed``."""
    split_seed = getattr(args, "split_seed", None)
    return args.seed if split_seed is None else split_seed


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Run training (and optional test evaluation and export); returns a summary dict.

    Raises:
        StopRequested: SIGTERM/SIGINT arrived (the last checkpoint is intact, no bundle written).
    """
    recipe = getattr(args, "recipe", None)
    if recipe and getattr(args, "recipe_applied", None) != recipe:
        raise ValueError(f"--recipe {recipe}: parse the options with oncocore.training.args.get_args_parser")
    check_start_options(args)
    d, device = setup(getattr(args, "device", None))
    stop = StopSignal().install()
    try:
        return _run(args, d, device, stop)
    finally:
        stop.uninstall()
        d.close()


def _run(args: argparse.Namespace, d: Dist, device: torch.device, stop: StopSignal) -> dict[str, Any]:
    started = time.monotonic()
    out = Path(args.output_dir)
    if d.main:
        out.mkdir(parents=True, exist_ok=True)
    seed_everything(args.seed)
    amp = device.type == "cuda" if args.amp is None else args.amp
    progress = Progress(args.progress_file if d.main else None, epochs=args.epochs)
    progress.write()
    split_seed = split_seed_of(args)
    data = load_run_data(args, split_seed)
    classes = data.classes
    parent, keep_head = None, False
    if args.finetune_from:  # the parent's card decides arch, input size and preprocessing
        parent, classes, keep_head = finetune_plan(args.finetune_from, classes)
        args.arch, args.input_size, spec = parent.arch, parent.preprocessing.input_size, parent.preprocessing
    else:
        spec = run_preprocessing(args, data.dataset)
    ckpt = load_checkpoint(args.resume) if args.resume else None
    if ckpt is not None and (ckpt["classes"] != classes or ckpt["preprocessing"] != spec.to_dict()):
        raise ValueError("checkpoint classes/preprocessing differ from this run's data and options")

    cache_dev = device if args.cache_on_device else torch.device("cpu")
    splits = {"train": data.train, "val": data.val, **({"test": data.test} if data.test else {})}
    datasets = {
        name: CachedImageDataset(
            r,
            spec,
            classes,
            num_workers=args.workers,
            cache_file=out / f"cache_{name}.pt" if args.cache_file and d.main else None,
        ).to(cache_dev)
        for name, r in splits.items()
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

    model = build_model(args.arch, num_classes=len(classes), in_channels=spec.channels)
    pretrained, finetuned, imagenet = None, None, None
    if ckpt is None and parent is not None:
        finetuned = load_finetune_weights(model, args.finetune_from, keep_head=keep_head)
    elif getattr(args, "init_from", None) and ckpt is None:
        pretrained = init_from_pretrained(
            model, args.init_from, arch=args.arch, task=data.dataset, val_rows=data.val
        )
    elif ckpt is None:
        imagenet = load_start_weights(model, args)
    else:
        pretrained, finetuned = ckpt.get("pretrained"), ckpt.get("finetuned_from")
        imagenet = ckpt.get("pretrained_weights")
    model = sync_batchnorm(model, d, device).to(device)
    if prefers_channels_last(device):
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
        weight = torch.tensor([len(data.train) / (len(classes) * max(c, 1)) for c in counts], device=device)
    criterion = nn.CrossEntropyLoss(weight=weight, label_smoothing=args.label_smoothing)
    augment = make_augment(
        "none" if args.augment == "none" else data.augment_family,
        args.augment if args.augment in ("strong", "geometric") else "standard",
    )

    # The weight average: smoother than the last step's weights when validation swings
    # from epoch to epoch (few validation groups, BatchNorm statistics that jump).
    ema = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema_decay), use_buffers=True)
        if getattr(args, "ema_decay", 0.0) > 0
        else None
    )
    start, best, best_epoch, stale = 0, -1.0, -1, 0
    log_path = out / "log.jsonl"
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
        if d.main and log_path.is_file():  # the history so far, minus epochs the checkpoint never saw
            history = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line]
            progress.state["history"] = [r for r in history if r["epoch"] < start]
        progress.state["resumed_from_epoch"] = start
    trained = wrap(model, d, device)
    generator = torch.Generator(device=device)
    budget_s = 60.0 * getattr(args, "time_budget_minutes", 0.0)
    time_stop = False

    def on_step(step: int, loss: float) -> None:
        progress.step(step, loss)
        if d.any(stop.requested, device):
            raise StopRequested(stop.signum or 15)

    progress.start_training(epoch=start, steps=micro)
    epoch = start
    for epoch in range(start, args.epochs):
        if stale >= args.patience and getattr(args, "select", "best") == "best":
            break
        t0 = time.perf_counter()
        # Per-epoch reseeding makes a resumed run replay exactly what a
        # continuous run would have done.
        torch.manual_seed(args.seed * 1000 + epoch)
        generator.manual_seed(args.seed * 1000 + epoch)
        train_loader.set_epoch(epoch)
        progress.update(phase="training", epoch=epoch, step=0)
        stats = train_one_epoch(
            trained,
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
            progress=not args.no_progress and d.main,
            ema=ema,
            mixup_alpha=getattr(args, "mixup_alpha", 0.0),
            cutmix_alpha=getattr(args, "cutmix_alpha", 0.0),
            dist=d,
            on_step=on_step,
        )
        judged = ema.module if ema is not None else model
        progress.update(phase="validating")
        if getattr(args, "precise_bn", False):  # on every rank: SyncBatchNorm needs them all
            recompute_bn_stats(judged, bn_loader, spec=spec, device=device, amp=amp)
        decision: dict[str, Any] | None = None
        if d.main:
            val = evaluate(judged, val_loader, spec=spec, device=device, class_names=classes, amp=amp)
            more = epoch + 1 < args.epochs
            late = budget_s > 0 and time.monotonic() - started + 1.5 * (time.perf_counter() - t0) > budget_s
            decision = {
                # --select last: every epoch replaces best.pt, so the run keeps its final weights.
                "improved": val["macro_f1"] > best or getattr(args, "select", "best") == "last",
                "macro_f1": val["macro_f1"],
                "time_stop": more and late,
            }
        decision = d.broadcast(decision)
        assert decision is not None
        improved = bool(decision["improved"])
        best, best_epoch, stale = (
            (decision["macro_f1"], epoch, 0) if improved else (best, best_epoch, stale + 1)
        )
        if d.main:
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
                "finetuned_from": finetuned,
                "pretrained_weights": imagenet,
                "world_size": d.world,
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
            progress.epoch_done(record, {k: val.get(k) for k in VAL_KEYS})
        if d.any(stop.requested, device):
            raise StopRequested(stop.signum or 15)
        # Time budget: stop (checkpoint saved above) when one more epoch, with
        # a 50 % margin, would run past it; at least one epoch runs per call.
        if decision["time_stop"] and stale < args.patience:
            time_stop = True
            break

    summary: dict[str, Any] = {"best_macro_f1": best, "best_epoch": best_epoch, "output_dir": str(out)}
    if d.main:
        summary.update(
            finish(args, data, datasets, classes, counts, time_stop, epoch, device, amp, stop, progress)
        )
        summary["finetuned_from"] = finetuned
        progress.update(phase="done")
    d.barrier()
    return summary


if __name__ == "__main__":
    try:
        result = main(parse_args())
    except (ValueError, FileNotFoundError) as exc:  # bad data or options: one line, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except StopRequested as exc:
        print(f"training {exc}; the last checkpoint is intact", file=sys.stderr)
        sys.exit(128 + exc.signum)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(result, indent=2))
