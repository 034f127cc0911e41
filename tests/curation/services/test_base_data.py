"""``base_rows``: which manifest rows a (limited) base data import takes."""

from __future__ import annotations

import csv
from pathlib import Path

from cases.task_registry import task_get
from curation.services.base_data import base_rows


def _folder(root: Path, rows: list[tuple[str, str, str]]) -> Path:
    folder = root / "histo_lung"
    for path, _label, _group in rows:
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(b"not read by base_rows")
    with open(folder / "MANIFEST.tsv", "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(["path", "class", "cluster"])
        writer.writerows(rows)
    return folder


def test_a_limited_import_spreads_each_class_over_its_groups(tmp_path, db):
    # Group a's three tiles come first in the manifest; a limit of 3 still takes a, b and c.
    rows = [(f"train/lung_benign/a{i}.jpg", "lung_benign", "a") for i in range(3)]
    rows += [
        ("train/lung_benign/b0.jpg", "lung_benign", "b"),
        ("train/lung_benign/c0.jpg", "lung_benign", "c"),
    ]
    rows += [("train/lung_benign/b1.jpg", "lung_benign", "b")]
    folder = _folder(tmp_path, rows)
    spec = task_get("histology")
    assert spec is not None

    chosen, refused = base_rows(data_dir=folder, spec=spec, group_column="cluster", limit_per_class=3)

    assert refused == []
    assert [r.path for r in chosen] == [
        "train/lung_benign/a0.jpg",
        "train/lung_benign/b0.jpg",
        "train/lung_benign/c0.jpg",
    ]
    # Without a limit every row is taken, in the manifest's order.
    everything, _ = base_rows(data_dir=folder, spec=spec, group_column="cluster")
    assert [r.path for r in everything] == [path for path, _, _ in rows]
