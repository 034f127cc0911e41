"""A tiny exported snapshot folder built from real brain MRI images, written with oncocore.datasets.manifest."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import defaultdict
from pathlib import Path

from oncocore.datasets.manifest import (
    CARD_JSON_NAME,
    FORMAT,
    MANIFEST_NAME,
    ManifestRow,
    content_hash,
    item_path,
    manifest_bytes,
)
from oncocore.training.data import GROUP_COLUMNS, read_manifest

#: Images per class and split: train, val, test.
PER_SPLIT = {"train": 4, "val": 2, "test": 2}


def make_snapshot(
    data_dir: Path,
    out: Path,
    *,
    classes: tuple[str, ...] | None = None,
    train_counts: dict[str, int] | None = None,
) -> Path:
    """Copy a few images per class of ``data_dir`` (a brain_mri data folder) into a snapshot folder.

    ``PER_SPLIT`` images per class and split, or ``train_counts[class]`` training
    images (an unbalanced snapshot). Whole groups go to one split (the
    snapshot's own rule); returns ``out``.
    """
    rows = read_manifest(data_dir)
    by_class: dict[str, dict[str, list[dict[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        by_class[r["class"]][r[GROUP_COLUMNS["brain_mri"]]].append(r)
    items: list[ManifestRow] = []
    image_id = 0
    wanted = classes or tuple(sorted(by_class))
    for label in wanted:
        groups = iter(sorted(by_class[label].items()))
        for split, n in PER_SPLIT.items():
            n = (train_counts or {}).get(label, n) if split == "train" else n
            taken = 0
            while taken < n:
                group, members = next(groups)
                for r in members[: n - taken]:
                    image_id += 1
                    src = Path(r["abs_path"])
                    rel = item_path(split=split, label=label, image_id=image_id, suffix=src.suffix)
                    (out / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(src, out / rel)
                    digest = hashlib.sha256((out / rel).read_bytes()).hexdigest()
                    items.append(ManifestRow(rel, label, split, group, digest, image_id, "base"))
                    taken += 1
    (out / MANIFEST_NAME).write_bytes(manifest_bytes(items))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for it in items:
        counts[it.split][it.label] += 1
    params = {"seed": 0, "val_fraction": 0.25, "test_fraction": 0.25}
    card = {
        "format": FORMAT,
        "name": "brain_mri-v1",
        "version": 1,
        "task": "brain_mri",
        "modality": "MR",
        "classes": list(wanted),
        "content_hash": content_hash(items, params),
        "counts": {s: dict(c) for s, c in counts.items()},
        **params,
    }
    (out / CARD_JSON_NAME).write_text(json.dumps(card, indent=2), encoding="utf-8")
    return out
