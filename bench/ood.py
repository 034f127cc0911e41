"""Measure the input suitability check of each shipped model (docs/models.md, "Input suitability").

For every bundle with a check, the share of images flagged "outside the model's scope":

* ``own_val``: the model's own validation images (the card's group split): wrongly flagged, goal <= 0.02;
* ``other_tasks``: the other data folders' validation images: goal >= 0.95;
* ``dicom``: the decodable DICOM samples in ``<data>/dicom`` that are not brain MR, chest CT or
  histology (:func:`dicom_outside`): goal >= 0.95.

The threshold is set on the whole validation set, so ``own_val`` is 0.01 or less by construction;
``own_val_2fold`` sets it on one half of the validation groups' images and counts the other half
(both ways, averaged): the honest estimate of the rate on new images of the same kind.

Features are cached under ``var/ood/`` (delete it after re-training). ``--fit`` also (re)fits and
stores the checks of the bundles first, as ``python -m oncocore.training.suitability fit`` does.

    .venv/bin/python bench/ood.py [--fit] [--json results/ood.json]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oncocore.decode import dicom_model_input
from oncocore.registry import load_card
from oncocore.suitability import load_check
from oncocore.training.data import GROUP_COLUMNS, card_dataset, card_split_rows, group_split, read_manifest
from oncocore.training.suitability import bundle_features, fit_bundle

ROOT = Path(__file__).resolve().parents[1]
BUNDLES = ["brain_mri-lite0", "lung_ct-cpu", "histology-cpu", "histology-cpu-s1"]
BRAIN_WORDS = ("HEAD", "BRAIN", "NEURO", "CRANE", "SKULL")
CHEST_WORDS = ("CHEST", "THORAX", "LUNG", "SMARTSCORE", "CARDIAC", "HEART", "TORSO")


def dicom_outside(path: Path) -> bool:
    """True unless the header says brain MR, chest CT or slide microscopy (the platform's tasks)."""
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    words = " ".join(
        str(ds.get(k, ""))
        for k in ("BodyPartExamined", "StudyDescription", "SeriesDescription", "ProtocolName")
    ).upper()
    modality = str(ds.get("Modality", "")).upper()
    if modality == "SM":
        return False
    if modality == "MR" and any(w in words for w in BRAIN_WORDS):
        return False
    return not (modality == "CT" and any(w in words for w in CHEST_WORDS))


def dicom_samples(data_root: Path) -> list[Path]:
    """The DICOM samples with pixels that are not brain MR, chest CT or histology."""
    folder = data_root / "dicom"
    with open(folder / "MANIFEST.tsv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    paths = [folder / r["file"] for r in rows if r["has_pixels"] == "True" and r["decode"].startswith("ok")]
    return [p for p in paths if dicom_outside(p)]


def cached(bundle: Path, name: str, sources: list, cache: Path) -> np.ndarray:
    """Features of ``sources`` through ``bundle``, cached by the weights' digest and the source list."""
    key = hashlib.sha256((load_card(bundle).weights_sha256 + repr(sources)[:100000]).encode()).hexdigest()[
        :16
    ]
    path = cache / f"{bundle.name}-{name}-{key}.npy"
    if path.is_file():
        return np.load(path)
    feats = bundle_features(bundle, sources) if sources else np.zeros((0, 1))
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, feats)
    return feats


def dicom_inputs(bundle: Path, paths: list[Path]) -> tuple[list[np.ndarray], list[str]]:
    spec = load_card(bundle).preprocessing
    arrays, names = [], []
    for p in paths:
        try:
            arrays.append(dicom_model_input(p.read_bytes(), frame=None, spec=spec))
            names.append(str(p))
        except (ValueError, KeyError):
            continue  # the pipeline reports these as undecodable, never scores them
    return arrays, names


def two_fold(val_rows: list[dict[str, str]], scores: np.ndarray, group_col: str, max_flagged: float) -> float:
    """Share of validation images flagged when the threshold comes from the other half of the groups."""
    groups = sorted({r[group_col] or r["path"] for r in val_rows})
    half = {g for i, g in enumerate(groups) if i % 2 == 0}
    side = np.array([(r[group_col] or r["path"]) in half for r in val_rows])
    flagged = []
    for fit_side in (side, ~side):
        ref = np.sort(scores[fit_side])
        threshold = ref[min(int(np.ceil(len(ref) * (1 - max_flagged))) - 1, len(ref) - 1)]
        flagged.append(float((scores[~fit_side] > threshold).mean()))
    return float(np.mean(flagged))


def measure(bundle: Path, data_root: Path, cache: Path) -> dict[str, object]:
    card = load_card(bundle)
    check = load_check(bundle, card)
    if check is None:
        return {"bundle": bundle.name, "check": "no check"}
    own = card_dataset(card)
    val_rows = card_split_rows(card, data_root / own)
    val = check.scores(cached(bundle, "val", [r["abs_path"] for r in val_rows], cache))
    others: list[str] = []
    for folder, column in GROUP_COLUMNS.items():
        if folder != own:  # the other folders' validation images (their default group split)
            others += [r["abs_path"] for r in group_split(read_manifest(data_root / folder), column)[1]]
    other = check.scores(cached(bundle, "others", others, cache))
    arrays, names = dicom_inputs(bundle, dicom_samples(data_root))
    dicom = check.scores(cached(bundle, "dicom", arrays, cache)) if arrays else np.zeros(0)
    suit = card.suitability or {}
    group_col = card.training_data.get("group_column", GROUP_COLUMNS[own])
    t = check.threshold
    return {
        "bundle": bundle.name,
        "task": card.task,
        "threshold": round(t, 3),
        "own_val": {"n": len(val), "flagged": round(float((val > t).mean()), 4)},
        "own_val_2fold": round(two_fold(val_rows, val, group_col, float(suit.get("max_flagged", 0.01))), 4),
        "other_tasks": {"n": len(other), "flagged": round(float((other > t).mean()), 4)},
        "dicom": {
            "n": len(dicom),
            "flagged": round(float((dicom > t).mean()), 4) if len(dicom) else None,
            "accepted": [n.split("/dicom/")[-1] for n, s in zip(names, dicom, strict=True) if s <= t],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--bundles", nargs="*", default=BUNDLES)
    parser.add_argument("--fit", action="store_true", help="fit and store the checks first")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    torch.set_num_threads(2)
    cache = ROOT / "var" / "ood"
    results = []
    for name in args.bundles:
        bundle = ROOT / "inference" / "bundles" / name
        if args.fit:
            fit_bundle(bundle, args.data_root, features=lambda b, label, src: cached(b, label, src, cache))
        result = measure(bundle, args.data_root, cache)
        results.append(result)
        print(json.dumps(result))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
