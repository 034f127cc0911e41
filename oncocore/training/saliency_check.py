"""Where does the model look? Share of Grad-CAM mass inside the imaged anatomy, on validation images.

    python -m oncocore.training.saliency_check --bundle DIR --data-dir ../shared/data/brain_mri \
        --task brain_mri [--out report.json]

For each validation image (the same group split as training, from the card)
the Grad-CAM of the predicted class is mapped back to the original image and
compared with a simple foreground mask (pixels above a small intensity
threshold, closed and hole-filled). A model that puts its evidence on the
background, the corners or burned-in text is taking a shortcut; for brain MRI
the notumor images come from other sources and sequences than the tumour
images, which makes that shortcut tempting.
"""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from oncocore.crop import lung_fields
from oncocore.predictor import Predictor
from oncocore.training.data import GROUP_COLUMNS, card_dataset, card_split_rows

__all__ = ["foreground_mask", "inside_share", "lung_mask", "main", "saliency_report"]


def foreground_mask(gray: np.ndarray, *, threshold: float = 0.06) -> np.ndarray:
    """Bool (H, W): the imaged anatomy (head, body, tissue) as one filled region.

    The image is blurred so speckled tissue merges and thin lines (a CT table,
    text) fade, thresholded, and the largest region's holes are filled: air
    inside the body (the lung fields, sinuses) counts as inside.

    Args:
        gray: uint8 (H, W) image (RGB is converted by the caller).
        threshold: Fraction of full scale above which a blurred pixel is foreground.
    """
    from scipy import ndimage

    h, w = gray.shape
    blob = ndimage.gaussian_filter(gray.astype(np.float32), max(h, w) / 64.0) > threshold * 255.0
    labels, count = ndimage.label(blob)
    if count == 0:
        return np.ones_like(blob)
    largest = labels == int(np.bincount(labels.ravel())[1:].argmax()) + 1
    return ndimage.binary_fill_holes(largest)


def inside_share(cam: np.ndarray, mask: np.ndarray) -> float:
    """Fraction of the map's mass that lies inside ``mask`` (1.0 for an empty map)."""
    total = float(cam.sum())
    return 1.0 if total <= 0 else float(cam[mask].sum() / total)


def lung_mask(gray: np.ndarray, *, threshold: float = 0.06) -> np.ndarray | None:
    """Bool (H, W): the lung fields grown by 1/64 of the image (pleura, hilum), or None if none are found."""
    from scipy import ndimage

    lungs, _ = lung_fields(gray, threshold)
    if not lungs.any():
        return None
    return ndimage.binary_dilation(lungs, iterations=max(1, round(max(gray.shape) / 64.0)))


def _summary(prefix: str, shares: Sequence[float]) -> dict[str, Any]:
    a = np.asarray(shares, dtype=np.float64)
    if a.size == 0:
        return {f"{prefix}_images": 0}
    return {
        f"{prefix}_share_mean": float(a.mean()),
        f"{prefix}_share_median": float(np.median(a)),
        f"{prefix}_share_p10": float(np.percentile(a, 10)),
    }


def saliency_report(
    predictor: Predictor, paths: Sequence[Path], *, threshold: float = 0.06, lungs: bool = False
) -> dict[str, Any]:
    """Per-image inside-foreground shares and their summary.

    With ``lungs`` (chest CT) it also reports the share of the map's mass inside
    the lung fields (``lung_mask``), over the images where lungs were found.
    """
    shares: list[float] = []
    corners: list[float] = []
    lung_shares: list[float] = []
    for start in range(0, len(paths), predictor.batch_size):
        batch = list(paths[start : start + predictor.batch_size])
        results = predictor.predict_sources(batch, saliency=True)
        for path, result in zip(batch, results, strict=True):
            gray = np.asarray(Image.open(path).convert("L"))
            cam = result.cam
            assert cam is not None and cam.shape == gray.shape
            shares.append(inside_share(cam, foreground_mask(gray, threshold=threshold)))
            if lungs and (mask := lung_mask(gray, threshold=threshold)) is not None:
                lung_shares.append(inside_share(cam, mask))
            h, w = gray.shape
            corner = np.zeros_like(cam, dtype=bool)
            ch, cw = h // 8, w // 8
            corner[:ch, :cw] = corner[:ch, -cw:] = corner[-ch:, :cw] = corner[-ch:, -cw:] = True
            corners.append(float(cam[corner].sum() / max(cam.sum(), 1e-12)))
    a = np.asarray(shares)
    return {
        "images": len(shares),
        "inside_share_mean": float(a.mean()),
        "inside_share_median": float(np.median(a)),
        "inside_share_p10": float(np.percentile(a, 10)),
        "images_mostly_outside": int((a < 0.5).sum()),
        "corner_share_mean": float(np.mean(corners)),
        "threshold": threshold,
        **({"lung_images": len(lung_shares), **_summary("lung", lung_shares)} if lungs else {}),
    }


def example_grid(predictor: Predictor, paths: Sequence[Path], out: Path) -> None:
    """A PNG of images (top) and their Grad-CAM overlays (bottom), labelled with the predicted class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from oncocore.saliency import overlay_png

    results = predictor.predict_sources(list(paths), saliency=True)
    fig, axes = plt.subplots(2, len(paths), figsize=(2.4 * len(paths), 5.2))
    for col, (path, r) in enumerate(zip(paths, results, strict=True)):
        rgb = np.asarray(Image.open(path).convert("RGB"))
        assert r.cam is not None  # saliency=True gives every result a map
        overlay = np.asarray(Image.open(io.BytesIO(overlay_png(rgb, r.cam))))
        axes[0, col].imshow(rgb)
        axes[0, col].set_title(f"true {Path(path).parent.name}", fontsize=8)
        axes[1, col].imshow(overlay)
        axes[1, col].set_title(f"AI {r.label} {r.confidence:.2f}", fontsize=8)
        for ax in axes[:, col]:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with MANIFEST.tsv")
    parser.add_argument("--task", required=True, choices=sorted(GROUP_COLUMNS), help="dataset key")
    parser.add_argument("--limit", type=int, default=0, help="at most this many validation images (0: all)")
    parser.add_argument("--out", type=Path, help="write the JSON report here")
    parser.add_argument("--grid", type=Path, help="write a PNG of example overlays here (two per class)")
    args = parser.parse_args(argv)
    predictor = Predictor(args.bundle, batch_size=32)
    card = predictor.cards[0]
    try:
        if card_dataset(card) != args.task:
            raise ValueError(f"{card.name} was trained on {card_dataset(card)}, not {args.task}")
        val = card_split_rows(card, args.data_dir)
    except (ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"saliency_check: {exc}\n")
    paths = [Path(r["abs_path"]) for r in val][: args.limit or None]
    report = {
        "bundle": f"{card.name}@{card.version}",
        **saliency_report(predictor, paths, lungs=args.task == "lung_ct"),
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    if args.grid:
        picks = [
            Path(r["abs_path"]) for c in card.class_names for r in [v for v in val if v["class"] == c][:2]
        ]
        example_grid(predictor, picks, args.grid)
    return report


if __name__ == "__main__":
    main()
