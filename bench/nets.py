"""Serving cost of each architecture: parameters, bundle size, forward and forward + Grad-CAM time.

    .venv/bin/python bench/nets.py [--archs resnet10 efficientnet_lite0 ...] [--size 224]
        [--channels 1] [--batch 1] [--runs 7] [--device cpu] [--json out.json]

Each net is built with a 4-class head (brain MR) and random weights (the
timing does not depend on the values), put in eval mode, and timed on a random
(B, C, S, S) batch: ``forward`` under ``torch.inference_mode()``, and
``forward+gradcam`` with ``gradcam_lowres`` on the arch's Grad-CAM layer (what
the Predictor runs per image). Each figure is the median over ``--runs`` timed
calls after one warm-up call, in milliseconds per image; the calls go round
the archs in turn (fair on a shared machine). The bundle sizes are
those ``save_bundle`` writes (float32 and ``--half`` float16) with the file
count: weights above 15 MiB are split into shards. ``gflops`` is PyTorch's
count of one forward pass (a multiply-add is 2), the figure that load on a
shared machine cannot disturb.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import torch  # noqa: E402  (after the path is set)
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from oncocore.nets import build_model, gradcam_target_layer  # noqa: E402
from oncocore.preprocessing import PreprocessSpec  # noqa: E402
from oncocore.registry import ModelCard, save_bundle  # noqa: E402
from oncocore.saliency import gradcam_lowres  # noqa: E402

DEFAULT_ARCHS = [
    "tinycnn",
    "resnet10",
    "resnet18",
    "efficientnet_b0",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
]
CLASSES = ("glioma", "meningioma", "notumor", "pituitary")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_ms(call: Callable[[], Any], device: torch.device) -> float:
    t0 = time.perf_counter()
    call()
    _sync(device)
    return (time.perf_counter() - t0) * 1000.0


def _bundle_sizes(model: torch.nn.Module, arch: str, size: int, channels: int) -> dict[str, Any]:
    spec = PreprocessSpec.imagenet(size, channels=channels)
    card = ModelCard(
        name="bench", version="0", task="brain_mri", arch=arch, class_names=CLASSES, preprocessing=spec
    )
    sizes: dict[str, Any] = {}
    for half in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            save_bundle(tmp, model, card, half=half)
            files = sorted(Path(tmp).glob("*.safetensors"))
            key = "fp16" if half else "fp32"
            sizes[f"{key}_mib"] = round(sum(f.stat().st_size for f in files) / 2**20, 2)
            sizes[f"{key}_files"] = len(files)
    return sizes


def measure(
    archs: list[str], *, size: int, channels: int, batch: int, runs: int, device: torch.device
) -> list[dict[str, Any]]:
    """One row per arch. The timed calls go round the archs in turn, so load from other
    processes on a shared machine lands on every arch alike instead of on whichever ran then."""
    rows, calls = [], []
    x = torch.randn(batch, channels, size, size, device=device)
    for arch in archs:
        torch.manual_seed(0)
        model = build_model(arch, num_classes=len(CLASSES), in_channels=channels).eval()
        params = sum(p.numel() for p in model.parameters())
        rows.append(
            {"arch": arch, "params_m": round(params / 1e6, 2), **_bundle_sizes(model, arch, size, channels)}
        )
        model.to(device)
        layer = gradcam_target_layer(model, arch)

        def forward(model: torch.nn.Module = model) -> None:
            with torch.inference_mode():
                model(x)

        def with_cam(model: torch.nn.Module = model, layer: torch.nn.Module = layer) -> None:
            gradcam_lowres(model, x, layer)

        forward()  # warm-up: allocations, kernel selection
        with_cam()
        with FlopCounterMode(display=False) as flops:  # a count, not a timing: load-independent
            forward()
        rows[-1]["gflops"] = round(flops.get_total_flops() / batch / 1e9, 2)
        rows[-1]["cam_grid"] = list(gradcam_lowres(model, x[:1], layer)[0].shape[1:])
        calls.append((forward, with_cam))
    times: list[tuple[list[float], list[float]]] = [([], []) for _ in archs]
    for _ in range(runs):
        for (forward, with_cam), (t_fwd, t_cam) in zip(calls, times, strict=True):
            t_fwd.append(_time_ms(forward, device))
            t_cam.append(_time_ms(with_cam, device))
    for row, (t_fwd, t_cam) in zip(rows, times, strict=True):
        row["forward_ms"] = round(statistics.median(t_fwd) / batch, 1)
        row["forward_gradcam_ms"] = round(statistics.median(t_cam) / batch, 1)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--archs", nargs="+", default=DEFAULT_ARCHS)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--channels", type=int, default=1, choices=(1, 3))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--json", default=None, help="also write the rows here")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(
        f"device {device}, {torch.get_num_threads()} threads, {args.size} px, {args.channels} ch, batch {args.batch}"
    )
    rows = measure(
        args.archs, size=args.size, channels=args.channels, batch=args.batch, runs=args.runs, device=device
    )
    for row in rows:
        print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
