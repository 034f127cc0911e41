"""The snapshot export's layout: ``manifest.csv``, ``dataset_card.json`` and ImageFolder paths.

An exported snapshot is a folder (or a zip of one)::

    manifest.csv          one row per image, COLUMNS below, sorted by path
    dataset_card.json     FORMAT, task, classes, modality, split parameters, counts, content hash
    DATASET_CARD.md       the same for people
    train/<class>/<image id>.<ext>
    val/<class>/...
    test/<class>/...

The platform writes it (``curation``) and the trainer reads it
(``oncocore.training``); both go through this module, so they cannot disagree.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "oncoportal-snapshot/1"
MANIFEST_NAME = "manifest.csv"
CARD_JSON_NAME = "dataset_card.json"
CARD_MD_NAME = "DATASET_CARD.md"
COLUMNS = ("path", "class", "split", "group", "sha256", "image_id", "provenance")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ManifestRow:
    """One image of a snapshot as the manifest lists it."""

    path: str  # <split>/<class>/<file>, relative to the snapshot folder
    label: str
    split: str
    group: str
    sha256: str
    image_id: int
    provenance: str

    def as_csv(self) -> list[str]:
        return [
            self.path,
            self.label,
            self.split,
            self.group,
            self.sha256,
            str(self.image_id),
            self.provenance,
        ]


def item_path(*, split: str, label: str, image_id: int, suffix: str) -> str:
    """``<split>/<class>/<image id, 8 digits><suffix>``: the file's place in the export."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; one of {', '.join(SPLITS)}")
    if not label or "/" in label or label in {".", ".."}:
        raise ValueError(f"class {label!r} cannot name a folder")
    return f"{split}/{label}/{image_id:08d}{suffix.lower()}"


def manifest_bytes(rows: Iterable[ManifestRow]) -> bytes:
    """The manifest as CSV (header, then rows sorted by path; ``\\n`` line ends)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: r.path):
        writer.writerow(row.as_csv())
    return out.getvalue().encode("utf-8")


def read_manifest_csv(path: str | Path) -> list[ManifestRow]:
    """Read a ``manifest.csv``.

    Raises:
        FileNotFoundError: No such file.
        ValueError: Missing columns, an unknown split or a bad image id.
    """
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = set(COLUMNS) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
        rows = []
        for n, raw in enumerate(reader, start=2):
            if raw["split"] not in SPLITS:
                raise ValueError(f"{path}:{n}: unknown split {raw['split']!r}")
            try:
                image_id = int(raw["image_id"])
            except ValueError:
                raise ValueError(f"{path}:{n}: image_id {raw['image_id']!r} is not a number") from None
            rows.append(
                ManifestRow(
                    path=raw["path"],
                    label=raw["class"],
                    split=raw["split"],
                    group=raw["group"],
                    sha256=raw["sha256"],
                    image_id=image_id,
                    provenance=raw["provenance"],
                )
            )
    return rows


def content_hash(rows: Sequence[ManifestRow], params: Mapping[str, Any]) -> str:
    """SHA-256 over the split parameters (canonical JSON) and the manifest bytes.

    The same images, labels, groups and parameters give the same hash, in any order.
    """
    h = hashlib.sha256()
    h.update(json.dumps(dict(params), sort_keys=True, separators=(",", ":")).encode())
    h.update(b"\n")
    h.update(manifest_bytes(rows))
    return h.hexdigest()


def is_snapshot_dir(path: str | Path) -> bool:
    """Whether ``path`` is an exported snapshot folder (it has a dataset card of this format)."""
    card = Path(path) / CARD_JSON_NAME
    if not card.is_file():
        return False
    try:
        return json.loads(card.read_text(encoding="utf-8")).get("format") == FORMAT
    except (OSError, ValueError):
        return False
