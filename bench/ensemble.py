"""What serving an ensemble costs, measured side by side in one run on the same images.

    .venv/bin/python bench/ensemble.py [--bundles DIR DIR ...] [--images 32] [--repeats 5] [--device cpu|cuda]

Default: the members of the first ensemble declared in inference/bundles/ensembles.json
on the first validation-sized batch of histology tiles. Per image, with Grad-CAM, the
median of ``--repeats`` interleaved rounds:

  one member          Predictor over the first bundle alone (one fused forward+backward pass)
  ensemble            Predictor over all bundles: one fused pass per member, a second pass
                      only for images where a member's argmax differs from the ensemble's
  two-pass ensemble   the plain way, for comparison: a forward pass of every member, then a
                      Grad-CAM forward+backward pass per member for the ensemble's label

Ratios are to "one member". Django-free.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from oncocore.predictor import Predictor  # noqa: E402
from oncocore.preprocessing import load_image  # noqa: E402
from oncocore.saliency import cam_to_original, gradcam  # noqa: E402


def two_pass(ens: Predictor, images: list[np.ndarray]) -> None:
    """The ensemble's outputs computed the plain way (forward, then a Grad-CAM pass per member)."""
    prepared = [ens.prepare(img) for img in images]
    with torch.inference_mode():
        probs = [
            torch.softmax(m.model(ens._inputs(prepared, m.card.preprocessing)) / m.card.temperature, 1)
            for m in ens.members
        ]
    wts = torch.tensor([m.weight for m in ens.members]).view(-1, 1, 1)
    labels = (wts * torch.stack(probs)).sum(0).argmax(1).tolist()
    for m in ens.members:
        spec = m.card.preprocessing
        cams = gradcam(m.model, ens._inputs(prepared, spec), m.layer, labels)
        for i, p in enumerate(prepared):
            cam_to_original(cams[i], p.by_spec[spec][1])


def main() -> None:
    shipped = json.loads((REPO / "inference" / "bundles" / "ensembles.json").read_text())
    # The first declared ensemble's members (with none declared, name them with --bundles).
    default = [
        REPO / "inference" / "bundles" / f for spec in list(shipped.values())[:1] for f in spec["members"]
    ]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--bundles", type=Path, nargs="+", default=default, help="ensemble members (first: the single)"
    )
    ap.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "histo_lung")
    ap.add_argument("--images", type=int, default=32, help="images per round")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved rounds; the median is reported")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if len(args.bundles) < 2:
        raise SystemExit("bench: an ensemble needs at least two bundles (none is declared in ensembles.json)")
    every = sorted(args.data_dir.glob("train/*/*"))
    paths = every[:: max(1, len(every) // args.images)][: args.images]  # spread over the classes
    images = [load_image(p) for p in paths]
    if not images:
        raise SystemExit(f"bench: no images under {args.data_dir}/train")
    one = Predictor(args.bundles[0], device=args.device)
    ens = Predictor(args.bundles, device=args.device)
    runs = {
        "one member": lambda: one.predict_batch(images),
        "ensemble": lambda: ens.predict_batch(images),
        "two-pass ensemble": lambda: two_pass(ens, images),
    }
    for fn in runs.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) / len(images))
    base = statistics.median(times["one member"])
    print(
        f"{len(args.bundles)} members, {len(images)} images, {args.device}, torch {torch.__version__}, "
        f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    print("| path | ms per image (with Grad-CAM) | ratio to one member |")
    print("|---|---:|---:|")
    for name in runs:
        med = statistics.median(times[name])
        print(f"| {name} | {med * 1e3:.0f} | {med / base:.2f} |")


if __name__ == "__main__":
    main()
