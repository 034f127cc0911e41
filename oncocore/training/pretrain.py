"""Multi-task pre-training of one backbone on the union of the seed data sets.

Each data set is small (lung CT has about 660 training slices), so one
backbone learns from all of them at once: every batch mixes images of the
three tasks, each task has its own linear head, and the loss is the mean of
the per-task cross-entropies. ``train.py --init-from`` then fine-tunes the
backbone on one task. Django-free, like ``train.py``::

    python -m oncocore.training.pretrain --data-root ../shared/data \\
        --datasets brain_mri lung_ct histo_lung --arch resnet10 --input-size 128 \\
        --epochs 20 --output-dir var/training/pretrain-128

**No validation image is ever seen.** Each data set is split exactly as the
fine-tuning run will split it (group column, ``--val-fraction``, ``--seed``)
and only the training side is used. The checkpoint records, per data set, the
manifest digest, the split and the path of every image pre-trained on, and
``train.py --init-from`` refuses a backbone that saw any of its validation
images.
The held-out sides are evaluated through the task heads after each epoch, for
the log only: nothing is selected on them (the last epoch is the result).

The backbone has a 3-channel stem; grayscale images are replicated into three
channels, so a 1-channel fine-tuning model gets the summed stem kernels and
computes exactly the same function (``nets._stem.adapt_stem_conv``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from ..nets import build_model
from ..preprocessing import PreprocessSpec, normalize_unit, to_unit
from .augment import make_augment
from .checkpoint import load_checkpoint, make_scheduler, save_checkpoint
from .data import GROUP_COLUMNS, MODALITIES, CachedImageDataset, group_split, manifest_digest, read_manifest
from .loops import _autocast
from .metrics import classification_metrics, softmax
from .plots import plot_pretraining_curves
from .runs import param_groups, start_run

__all__ = ["PRETRAIN_KIND", "MultiTaskNet", "get_args_parser", "init_from_pretrained", "main", "split_record"]

#: ``kind`` of the checkpoints this module writes (what ``--init-from`` expects).
PRETRAIN_KIND = "oncoportal-pretrained-backbone"


def split_record(rows: list[dict[str, str]], task: str, val_fraction: float, seed: int) -> dict[str, Any]:
    """What identifies a data set's train/validation split (compared by ``--init-from``)."""
    return {
        "manifest_sha256": manifest_digest(rows),
        "group_column": GROUP_COLUMNS[task],
        "val_fraction": val_fraction,
        "seed": seed,
    }


class MultiTaskNet(nn.Module):
    """A backbone (classifier head removed) with one linear head per task."""

    def __init__(self, arch: str, heads: dict[str, int]) -> None:
        super().__init__()
        self.backbone = build_model(arch, num_classes=2, in_channels=3)  # head replaced below
        head = _head_name(self.backbone)
        features = getattr(self.backbone, head).in_features
        setattr(self.backbone, head, nn.Identity())
        self.heads = nn.ModuleDict({task: nn.Linear(features, n) for task, n in heads.items()})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, F) features."""
        return self.backbone(x)


def _head_name(model: nn.Module) -> str:
    for name in ("fc", "classifier", "head"):
        if isinstance(getattr(model, name, None), nn.Linear):
            return name
    raise ValueError(f"{type(model).__name__}: no linear 'fc' head to replace; use a ResNet for pre-training")


class _Task:
    """One data set's cached training/validation images and its augmentation."""

    def __init__(self, task: str, data_root: Path, args: argparse.Namespace) -> None:
        self.task = task
        rows = read_manifest(data_root / task)
        self.split = split_record(rows, task, args.val_fraction, args.seed)
        train_rows, val_rows = group_split(rows, GROUP_COLUMNS[task], args.val_fraction, args.seed)
        if args.limit_per_class:
            train_rows = _first_per_class(train_rows, args.limit_per_class)
            val_rows = _first_per_class(val_rows, args.limit_per_class)
        self.classes = sorted({r["class"] for r in rows})
        self.spec = PreprocessSpec.for_task(task, args.input_size)
        self.train = CachedImageDataset(train_rows, self.spec, self.classes, num_workers=args.workers)
        self.val = CachedImageDataset(val_rows, self.spec, self.classes, num_workers=args.workers)
        self.augment = make_augment(MODALITIES[task])
        self.split["n_train"] = len(self.train)

    def batch(self, images: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """uint8 (B, C, S, S) -> normalised float (B, 3, S, S), augmented when ``generator`` is given."""
        x = to_unit(images)
        if generator is not None:
            x = self.augment(x, generator)
        x = normalize_unit(x, self.spec)
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def _first_per_class(rows: list[dict[str, str]], n: int) -> list[dict[str, str]]:
    seen: dict[str, int] = {}
    out = []
    for r in rows:
        if seen.get(r["class"], 0) < n:
            seen[r["class"]] = seen.get(r["class"], 0) + 1
            out.append(r)
    return out


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Multi-task pre-training on the seed data sets.", add_help=add_help
    )
    p.add_argument("--data-root", required=True, help="folder holding one sub-folder per data set")
    p.add_argument(
        "--datasets",
        nargs="+",
        default=sorted(GROUP_COLUMNS),
        choices=sorted(GROUP_COLUMNS),
        help="data set folders to pre-train on (default: all seed data sets)",
    )
    p.add_argument("--val-fraction", type=float, default=0.2, help="must equal the fine-tuning runs' value")
    p.add_argument("--seed", type=int, default=0, help="split and training seed (must equal fine-tuning's)")
    p.add_argument("--limit-per-class", type=int, default=0, help="smoke runs: first N images/class per side")
    p.add_argument("--workers", type=int, default=4, help="threads decoding images into the cache")
    p.add_argument("--arch", default="resnet10", help="backbone architecture (a ResNet)")
    p.add_argument("--input-size", type=int, default=128, help="input side in pixels")
    p.add_argument("--epochs", type=int, default=20, help="passes over the union of the training sides")
    p.add_argument("--batch-size", type=int, default=48, help="images per mixed batch")
    p.add_argument("--lr", type=float, default=1e-3, help="peak AdamW learning rate")
    p.add_argument("--weight-decay", type=float, default=0.05, help="AdamW decay (not on norms/biases)")
    p.add_argument("--warmup-epochs", type=float, default=2.0, help="linear warm-up length in epochs")
    p.add_argument("--label-smoothing", type=float, default=0.1, help="cross-entropy label smoothing")
    p.add_argument("--max-steps-per-epoch", type=int, default=0, help="smoke runs: cap batches per epoch")
    p.add_argument("--device", default=None, help="cuda, mps or cpu (default: best available)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None, help="bf16 autocast")
    p.add_argument("--output-dir", required=True, help="run dir: pretrained.pt, log.jsonl")
    p.add_argument("--resume", action="store_true", help="continue from <output-dir>/pretrained.pt")
    p.add_argument(
        "--time-budget-minutes", type=float, default=0.0, help="stop cleanly (resumable) after this"
    )
    p.add_argument("--no-progress", action="store_true", help="disable the tqdm progress bar")
    return p


def _evaluate(net: MultiTaskNet, tasks: list[_Task], device: torch.device, amp: bool) -> dict[str, float]:
    net.eval()
    out = {}
    with torch.no_grad():
        for t in tasks:
            logits = []
            for start in range(0, len(t.val), 128):
                x = t.batch(t.val.images[start : start + 128].to(device), None)
                with _autocast(device, amp):
                    logits.append(net.heads[t.task](net(x)).float().cpu())
            if logits:
                m = classification_metrics(
                    softmax(torch.cat(logits).numpy()), t.val.targets.numpy(), t.classes
                )
                out[f"{t.task}_val_accuracy"] = m["accuracy"]
                out[f"{t.task}_val_macro_f1"] = m["macro_f1"]
    return out


def main(args: argparse.Namespace) -> dict[str, Any]:
    """Pre-train and write ``<output-dir>/pretrained.pt``; returns a summary dict."""
    started = time.monotonic()
    out, device, amp = start_run(args)
    tasks = [_Task(t, Path(args.data_root), args) for t in args.datasets]
    net = MultiTaskNet(args.arch, {t.task: len(t.classes) for t in tasks}).to(device)
    # One epoch = every training image once, in mixed batches.
    owner = torch.cat([torch.full((len(t.train),), i) for i, t in enumerate(tasks)])  # (N,)
    local = torch.cat([torch.arange(len(t.train)) for t in tasks])  # (N,)
    steps = math.ceil(len(owner) / args.batch_size)
    if args.max_steps_per_epoch:
        steps = min(steps, args.max_steps_per_epoch)
    optimizer = torch.optim.AdamW(param_groups(net, args.weight_decay), lr=args.lr)
    scheduler = make_scheduler(optimizer, steps * args.epochs, round(steps * args.warmup_epochs))
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    path = out / "pretrained.pt"
    start = 0
    if args.resume and path.is_file():
        ckpt = load_checkpoint(path)
        net.backbone.load_state_dict(ckpt["model"])
        net.heads.load_state_dict(ckpt["heads"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start = ckpt["epoch"] + 1
    generator = torch.Generator(device=device)
    order_gen = torch.Generator()
    record: dict[str, Any] = {}
    for epoch in range(start, args.epochs):
        t0 = time.perf_counter()
        generator.manual_seed(args.seed * 1000 + epoch)
        order_gen.manual_seed(args.seed * 100_003 + epoch)
        torch.manual_seed(args.seed * 1000 + epoch)
        order = torch.randperm(len(owner), generator=order_gen)
        net.train()
        sums = {t.task: [0.0, 0] for t in tasks}
        bar = tqdm(range(steps), desc=f"epoch {epoch}", disable=args.no_progress, leave=False)
        for step in bar:
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            parts, targets, sizes = [], [], []
            for i, t in enumerate(tasks):
                mine = local[idx[owner[idx] == i]]
                if len(mine):
                    parts.append(t.batch(t.train.images[mine].to(device), generator))
                    targets.append(t.train.targets[mine].to(device))
                    sizes.append((t, len(mine)))
            with _autocast(device, amp):
                features = net(torch.cat(parts))
            losses, offset = [], 0
            for (t, n), y in zip(sizes, targets, strict=True):
                loss = criterion(net.heads[t.task](features[offset : offset + n]).float(), y)
                losses.append(loss)
                sums[t.task][0] += loss.item() * n
                sums[t.task][1] += n
                offset += n
            total = torch.stack(losses).mean()
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            scheduler.step()
            bar.set_postfix(loss=f"{total.item():.4f}")
        record = {
            "epoch": epoch,
            **{f"{k}_train_loss": s / max(n, 1) for k, (s, n) in sums.items()},
            **_evaluate(net, tasks, device, amp),
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - t0,
        }
        save_checkpoint(
            path,
            {
                "kind": PRETRAIN_KIND,
                "arch": args.arch,
                "in_channels": 3,
                "input_size": args.input_size,
                "model": net.backbone.state_dict(),
                "heads": net.heads.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "epoch": epoch,
                "args": vars(args),
                "splits": {t.task: t.split for t in tasks},
                "seen": {t.task: [r["path"] for r in t.train.rows] for t in tasks},
                "classes": {t.task: t.classes for t in tasks},
            },
        )
        with open(out / "log.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        if not args.no_progress:
            print(json.dumps(record), flush=True)
        last = time.perf_counter() - t0
        budget = 60.0 * args.time_budget_minutes
        if budget and epoch + 1 < args.epochs and time.monotonic() - started + 1.5 * last > budget:
            return {"checkpoint": str(path), "time_budget_stop": True, "next_epoch": epoch + 1, **record}
    if record:
        plot_pretraining_curves(out / "log.jsonl", out / "curves.png")
    return {"checkpoint": str(path), **record}


def init_from_pretrained(
    model: nn.Module, path: str | Path, *, arch: str, task: str, val_rows: list[dict[str, str]]
) -> dict[str, Any]:
    """Load a pre-trained backbone into ``model`` (its head stays freshly initialised).

    Args:
        model: A classifier built by ``build_model(arch, ...)``, any stem width.
        path: ``pretrained.pt`` written by :func:`main`.
        arch: The model's architecture; must equal the backbone's.
        task: Data set folder being fine-tuned.
        val_rows: The fine-tuning run's validation rows; none may have been pre-trained on.

    Returns:
        Provenance for the model card: file, epoch, data sets and their sizes.

    Raises:
        ValueError: Not a pre-training checkpoint, another architecture, or
            one of ``val_rows`` among the images it was pre-trained on.
    """
    ckpt = load_checkpoint(path)
    if ckpt.get("kind") != PRETRAIN_KIND:
        raise ValueError(f"{path}: not a pre-trained backbone (write one with oncocore.training.pretrain)")
    if ckpt["arch"] != arch:
        raise ValueError(f"{path}: backbone is {ckpt['arch']}, this run trains {arch}")
    seen = set(ckpt.get("seen", {}).get(task, ()))
    leaked = sorted(r["path"] for r in val_rows if r["path"] in seen)
    if leaked:
        raise ValueError(
            f"{path}: {len(leaked)} of this run's {len(val_rows)} validation images of {task} were pre-trained on "
            f"(e.g. {leaked[0]}); pre-train with the same --val-fraction and --seed"
        )
    state = dict(ckpt["model"])
    own = model.state_dict()
    for name, tensor in state.items():
        if name in own and own[name].ndim == 4 and tensor.shape[1] != own[name].shape[1]:
            if own[name].shape[1] != 1:
                raise ValueError(
                    f"{path}: cannot adapt {name} from {tensor.shape[1]} to {own[name].shape[1]} channels"
                )
            state[name] = tensor.sum(dim=1, keepdim=True)  # grey input replicated x3 == summed kernels
    head = _head_name(model)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(f"{head}.") for k in missing):
        raise ValueError(f"{path}: backbone does not fit: missing {missing}, unexpected {unexpected}")
    return {
        "file": Path(path).name,
        "epoch": ckpt["epoch"] + 1,
        "input_size": ckpt["input_size"],
        "datasets": ckpt["splits"],
    }


if __name__ == "__main__":
    print(json.dumps(main(get_args_parser().parse_args()), indent=2))
