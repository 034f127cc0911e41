#!/usr/bin/env python3
"""Checkpoints that travel to and from the GPU machine (used by scripts/gpu_train.sh).

    python scripts/gpu_checkpoint.py shrink SRC DST [--best]   # float16, no AdamW moments: ~9 MiB
    python scripts/gpu_checkpoint.py status CHECKPOINT [--shell]

Django-free: it runs on the device's own Python with torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

MIB = 1 << 20


def _mib(n: float) -> str:
    return f"{n / MIB:.1f} MiB"


def shrink_checkpoint(src: Path, dst: Path, *, weights_only_state: bool = False) -> int:
    """Write a small copy of a ``train.py`` checkpoint; returns its size in bytes.

    Floating-point weights become float16 (kept float32 where float16 would
    overflow); the optimizer keeps its param groups but not its per-parameter
    state (AdamW moments, ~2/3 of the file), so ``--resume`` from it restarts
    the moment estimates. ``weights_only_state`` (for ``best.pt``) also drops
    optimizer and scheduler: enough for the bundle export.
    """
    import torch

    ck = torch.load(src, map_location="cpu", weights_only=True)

    def small(t: torch.Tensor) -> torch.Tensor:
        if t.is_floating_point() and t.dtype == torch.float32:
            h = t.half()
            return h if bool(torch.isfinite(h).all()) == bool(torch.isfinite(t).all()) else t
        return t

    ck["model"] = {k: small(v) for k, v in ck["model"].items()}
    if "train_model" in ck:  # --ema-decay: the raw weights too (about twice the size)
        ck["train_model"] = {k: small(v) for k, v in ck["train_model"].items()}
    if weights_only_state:
        ck.pop("train_model", None)  # the export needs only the averaged weights
        ck.pop("optimizer", None)
        ck.pop("scheduler", None)
    elif "optimizer" in ck:
        ck["optimizer"] = {"state": {}, "param_groups": ck["optimizer"]["param_groups"]}
    ck["shrunk"] = True
    tmp = Path(str(dst) + ".tmp")
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    torch.save(ck, tmp)
    os.replace(tmp, dst)
    return Path(dst).stat().st_size


def checkpoint_status(path: Path) -> dict[str, Any]:
    """Epoch, best epoch and whether the run is finished (epochs done or early-stopped)."""
    import torch

    ck = torch.load(path, map_location="cpu", weights_only=True)
    args = ck.get("args", {})
    epochs, patience = int(args.get("epochs", 0)), int(args.get("patience", 0))
    stale = int(ck.get("epochs_since_best", 0))
    return {
        "epoch": int(ck["epoch"]),
        "epochs": epochs,
        "best_epoch": int(ck.get("best_epoch", -1)),
        "best_metric": float(ck.get("best_metric", -1.0)),
        "finished": ck["epoch"] + 1 >= epochs or (patience > 0 and stale >= patience),
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["shrink"]:
        p = argparse.ArgumentParser(prog="gpu_checkpoint.py shrink", description=shrink_checkpoint.__doc__)
        p.add_argument("src")
        p.add_argument("dst")
        p.add_argument("--best", action="store_true", help="weights only (for best.pt)")
        a = p.parse_args(argv[1:])
        n = shrink_checkpoint(Path(a.src), Path(a.dst), weights_only_state=a.best)
        print(f"{a.dst}: {_mib(n)} (from {_mib(Path(a.src).stat().st_size)})")
        if n > 16 * MIB:
            print(
                f"gpu_checkpoint: warning: {a.dst} is over 16 MiB and will not come back from $OUT",
                file=sys.stderr,
            )
        return 0
    if argv[:1] == ["status"]:
        p = argparse.ArgumentParser(prog="gpu_checkpoint.py status", description=checkpoint_status.__doc__)
        p.add_argument("checkpoint")
        p.add_argument("--shell", action="store_true", help="print NAME=value lines for bash eval")
        a = p.parse_args(argv[1:])
        st = checkpoint_status(Path(a.checkpoint))
        if a.shell:
            print("\n".join(f"CK_{k.upper()}={int(v) if isinstance(v, bool) else v}" for k, v in st.items()))
        else:
            print(json.dumps(st))
        return 0
    print("usage: gpu_checkpoint.py shrink SRC DST [--best] | status CHECKPOINT [--shell]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
