"""Fitting the input suitability check of a bundle on its own training data (``oncocore.suitability``).

    python -m oncocore.training.suitability fit inference/bundles/<bundle> ... --data-root ../shared/data

Reads the split the card records (group column, validation fraction, seed),
takes the penultimate features of the training and validation images through
the bundle's own model, fits the check and writes it into the bundle.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..model_card import ModelCard
from ..predictor import Predictor
from ..registry import load_card
from ..suitability import MAX_FLAGGED, SHRINKAGE, fit_check, save_check
from .data import GROUP_COLUMNS, card_dataset, card_split_rows, group_split, read_manifest

__all__ = ["bundle_features", "fit_bundle", "main"]

PathLike = str | Path


def bundle_features(bundle: PathLike, sources: Iterable[Any], *, batch_size: int = 32) -> np.ndarray:
    """Penultimate features (N, D) of images (paths, bytes or arrays) through one bundle's model."""
    predictor = Predictor(bundle, device="cpu", batch_size=batch_size, suitability=False)
    return predictor.features(sources)


def fit_bundle(
    bundle: PathLike,
    data_root: PathLike,
    *,
    max_flagged: float = MAX_FLAGGED,
    features: Callable[[Path, str, list[str]], np.ndarray] | None = None,
) -> ModelCard:
    """Fit and store the check of one bundle on the training split its card records.

    Args:
        bundle: The bundle folder.
        data_root: Folder holding the data folders (``../shared/data``).
        max_flagged: Largest share of the validation images the threshold may flag.
        features: ``features(bundle, "train" | "val", paths)``; default :func:`bundle_features` (no cache).
    """
    card = load_card(bundle)
    folder = card_dataset(card)
    rows = read_manifest(Path(data_root) / folder)
    td = card.training_data
    val = card_split_rows(card, Path(data_root) / folder)
    train, _ = group_split(
        rows,
        td.get("group_column", GROUP_COLUMNS[folder]),
        float(td.get("val_fraction", 0.2)),
        int(td.get("split_seed", 0)),
    )
    extract = features or (lambda b, _name, paths: bundle_features(b, paths))
    train_f = extract(Path(bundle), "train", [r["abs_path"] for r in train])
    val_f = extract(Path(bundle), "val", [r["abs_path"] for r in val])
    labels = [card.class_names.index(r["class"]) for r in train]
    check = fit_check(train_f, labels, val_f, card.class_names, max_flagged=max_flagged)
    flagged = float((check.scores(val_f) > check.threshold).mean())
    info = {
        "fitted_on": f"{folder}: {len(train)} training images (the card's group split)",
        "threshold_from": f"{len(val)} validation images, at most {max_flagged:.0%} flagged",
        "max_flagged": max_flagged,
        "val_flagged": round(flagged, 4),
        "shrinkage": SHRINKAGE,
    }
    return save_check(bundle, card, check, info)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oncocore.training.suitability", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    fit = sub.add_parser("fit", help="fit and store the check of bundles on their own training data")
    fit.add_argument("bundles", nargs="+", help="bundle folders")
    fit.add_argument("--data-root", default=os.environ.get("ONCOPORTAL_DATA_DIR", "../shared/data"))
    fit.add_argument("--max-flagged", type=float, default=MAX_FLAGGED)
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    for bundle in args.bundles:
        card = fit_bundle(bundle, args.data_root, max_flagged=args.max_flagged)
        s = card.suitability or {}
        print(f"{bundle}: threshold {s['threshold']:.3f}, validation flagged {s['val_flagged']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
