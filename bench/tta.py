"""Test-time augmentation (TTA) vs. the plain model, on each bundle's validation split.

    .venv/bin/python bench/tta.py [--bundles DIR ...] [--data-dir ../shared/data] [--json out.json]

For every shipped bundle it rebuilds exactly the group-held-out validation
split its card was evaluated on (the card's group column, validation
fraction and split seed; the manifest digest and image count are checked
against the card), runs the model once per input variant (identity, flips,
rotations of the model input), and scores each TTA policy: the mean of the
softmax of the temperature-scaled logits (the card's temperature, as served)
over the policy's variants. Columns: accuracy, macro-F1, ECE (15 bins, after
temperature scaling), per-class recall, and how many images TTA fixed /
broke compared with the plain model (a paired view: with a few hundred
images, one image is 0.2-0.6 points).

Cost (x): wall time of one batch with TTA over the same batch without it,
median of ``--repeats``, for the plain forward pass ("fwd", variants batched
into one pass) and for the serving path with saliency ("+cam": one fused
forward+backward Grad-CAM pass on the original image plus a forward pass
per extra variant).

Policies measured: brain MRI and lung CT ``hflip`` only (anatomy is roughly
left-right symmetric, not up-down); histology ``hflip``, ``vflip``, the 4
flips (identity, h, v, both) and all 8 dihedral variants (orientation
carries no meaning). Django-free.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from oncocore.nets import gradcam_target_layer  # noqa: E402
from oncocore.preprocessing import normalize_uint8  # noqa: E402
from oncocore.registry import load_model  # noqa: E402
from oncocore.saliency import gradcam  # noqa: E402
from oncocore.training.data import (  # noqa: E402
    BatchLoader,
    CachedImageDataset,
    card_validation_rows,
)
from oncocore.training.metrics import classification_metrics, softmax  # noqa: E402

#: Variant name -> transform of a (..., C, S, S) model input (square, so all 8 fit).
TTA_TRANSFORMS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "hflip": lambda x: x.flip(-1),
    "vflip": lambda x: x.flip(-2),
    "rot180": lambda x: x.flip(-2, -1),
    "rot90": lambda x: x.rot90(1, (-2, -1)),
    "rot270": lambda x: x.rot90(-1, (-2, -1)),
    "transpose": lambda x: x.transpose(-2, -1),
    "transverse": lambda x: x.rot90(2, (-2, -1)).transpose(-2, -1),
}


def apply_tta(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` transformed by the variant ``name``."""
    return TTA_TRANSFORMS[name](x)


#: Policy name -> extra variants (identity is always included).
POLICIES: dict[str, tuple[str, ...]] = {
    "none": (),
    "hflip": ("hflip",),
    "vflip": ("vflip",),
    "flips4": ("hflip", "vflip", "rot180"),
    "d8": ("hflip", "vflip", "rot180", "rot90", "rot270", "transpose", "transverse"),
}
#: Dataset key -> policies worth measuring for it.
TASK_POLICIES = {
    "brain_mri": ("none", "hflip"),
    "lung_ct": ("none", "hflip"),
    "histo_lung": ("none", "hflip", "vflip", "flips4", "d8"),
}
#: Class whose recall is a hard constraint, per dataset.
KEY_CLASS = {"lung_ct": "malignant"}


def validation_set(card: Any, data_dir: Path) -> tuple[str, list[dict[str, str]]]:
    """The card's group-held-out validation rows, checked against the card."""
    try:
        return card_validation_rows(card, data_dir)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


@torch.inference_mode()
def variant_logits(
    model: torch.nn.Module, ds: CachedImageDataset, spec: Any, names: list[str], batch_size: int
) -> dict[str, np.ndarray]:
    """float64 (N, K) logits of every variant in ``names`` (plus identity)."""
    out: dict[str, list[torch.Tensor]] = {n: [] for n in ["identity", *names]}
    for x8, _ in BatchLoader(ds, batch_size):
        x = normalize_uint8(x8, spec)
        for n in out:
            out[n].append(model(x if n == "identity" else apply_tta(x, n)).float())
    return {n: torch.cat(v).double().numpy() for n, v in out.items()}


def _median_s(fn: Any, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cost_ratios(
    model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor, extra: tuple[str, ...], repeats: int
) -> dict[str, float]:
    """Wall time with TTA / without, forward only and with the fused Grad-CAM pass."""
    if not extra:
        return {"fwd": 1.0, "cam": 1.0}

    def fwd(batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return model(batch)

    stacked = torch.cat([x, *(apply_tta(x, n) for n in extra)])
    rest = torch.cat([apply_tta(x, n) for n in extra])
    base_fwd = _median_s(lambda: fwd(x), repeats)
    tta_fwd = _median_s(lambda: fwd(stacked), repeats)
    base_cam = _median_s(lambda: gradcam(model, x, layer, None, return_logits=True), repeats)
    tta_cam = _median_s(lambda: (gradcam(model, x, layer, None, return_logits=True), fwd(rest)), repeats)
    return {"fwd": tta_fwd / base_fwd, "cam": tta_cam / base_cam}


def evaluate_bundle(bundle: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Metrics and cost of every policy for one bundle."""
    model, card = load_model(bundle, "cpu")
    key, val = validation_set(card, args.data_dir)
    spec = card.preprocessing
    ds = CachedImageDataset(val, spec, card.class_names, num_workers=args.workers)
    targets = ds.targets.numpy()
    policies = args.policies or TASK_POLICIES[key]
    variants = sorted({v for p in policies for v in POLICIES[p]})
    t0 = time.perf_counter()
    logits = variant_logits(model, ds, spec, variants, args.batch_size)
    probs = {n: softmax(z, card.temperature) for n, z in logits.items()}
    base_pred = probs["identity"].argmax(1)
    x = normalize_uint8(ds.images[: args.cost_batch], spec)
    layer = gradcam_target_layer(model, card.arch)
    rows = []
    for p in policies:
        names = ["identity", *POLICIES[p]]
        mean = np.mean([probs[n] for n in names], axis=0)  # (N, K)
        m = classification_metrics(mean, targets, card.class_names)
        pred = mean.argmax(1)
        rows.append(
            {
                "policy": p,
                "passes": len(names),
                "accuracy": m["accuracy"],
                "macro_f1": m["macro_f1"],
                "ece": m["ece"],
                "nll": m["nll"],
                "recall": {c: v["recall"] for c, v in m["per_class"].items()},
                "fixed": int(((pred == targets) & (base_pred != targets)).sum()),
                "broken": int(((pred != targets) & (base_pred == targets)).sum()),
                "cost": cost_ratios(model, layer, x, POLICIES[p], args.repeats),
            }
        )
    return {
        "bundle": str(bundle),
        "model": f"{card.name}@{card.version}",
        "dataset": key,
        "n_val": len(val),
        "temperature": card.temperature,
        "classes": list(card.class_names),
        "key_class": KEY_CLASS.get(key),
        "seconds": time.perf_counter() - t0,
        "rows": rows,
    }


def print_table(res: dict[str, Any]) -> None:
    base = res["rows"][0]
    print(
        f"\n## {res['model']} ({res['dataset']}, {res['n_val']} validation images, T={res['temperature']:.3f})"
    )
    short = {
        c: c.replace("lung_", "").replace("squamous_cell_carcinoma", "squamous")[:12] for c in res["classes"]
    }
    head = ["policy", "passes", "accuracy", "macro-F1", "ECE", "fixed/broken", "cost fwd", "cost +cam"]
    head += [f"rec {short[c]}" for c in res["classes"]]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in res["rows"]:
        delta = "" if r is base else f" ({100 * (r['accuracy'] - base['accuracy']):+.1f})"
        cells = [
            r["policy"],
            str(r["passes"]),
            f"{r['accuracy']:.3f}{delta}",
            f"{r['macro_f1']:.3f}",
            f"{r['ece']:.3f}",
            f"{r['fixed']}/{r['broken']}",
            f"{r['cost']['fwd']:.2f}x",
            f"{r['cost']['cam']:.2f}x",
        ]
        cells += [f"{r['recall'][c]:.3f}" for c in res["classes"]]
        print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    default_bundles = sorted(
        p for p in (REPO / "inference" / "bundles").iterdir() if (p / "model.json").is_file()
    )
    parser.add_argument("--bundles", type=Path, nargs="+", default=default_bundles, help="bundle folders")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get("ONCOPORTAL_DATA_DIR", REPO.parent / "shared" / "data")),
        help="folder holding brain_mri/, lung_ct/, histo_lung/",
    )
    parser.add_argument(
        "--policies", nargs="+", choices=sorted(POLICIES), help="override the per-task policies"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--cost-batch", type=int, default=16, help="images per timed batch")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (median)")
    parser.add_argument("--workers", type=int, default=2, help="decoding threads")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        "TTA = mean of softmax(logits / T) over the variants; ECE after temperature scaling with the "
        "card's T (fitted on these same images for the plain model); cost = wall time vs. no TTA, "
        f"CPU, {torch.get_num_threads()} thread(s), batch {args.cost_batch}."
    )
    results = []
    for bundle in args.bundles:
        res = evaluate_bundle(bundle, args)
        print_table(res)
        results.append(res)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
