"""A snapshot's dataset card: ``dataset_card.json`` for the trainer, ``DATASET_CARD.md`` for people.

Both are built from the snapshot's row alone (plus the base data's licence
files), so a folder export and a zip export of one snapshot carry the same
bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.conf import settings

from cases.task_registry import task_get
from curation.models import Provenance, Snapshot
from curation.selectors_snapshots import snapshot_provenance_counts
from oncocore.datasets.manifest import FORMAT, SPLITS

__all__ = ["card_json_bytes", "card_md_bytes", "dataset_card"]

LICENCE_FILE = "SOURCE_AND_LICENSE.md"
REVIEWED_DATA_NOTE = (
    "Images of this hospital's patients (de-identified at intake), labelled by its readers. "
    "Not for release outside the hospital without its data protection officer's consent."
)


def _licence_section(text: str) -> str:
    """The ``## Licence`` section of a SOURCE_AND_LICENSE.md (empty when it has none)."""
    lines = text.splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.startswith("## "):
            inside = line[3:].strip().lower().startswith(("licence", "license"))
            continue
        if inside:
            out.append(line)
    return "\n".join(out).strip()


def _base_folders(snapshot: Snapshot) -> list[str]:
    """The data folders the snapshot's base images came from.

    ``import_base_data`` files a base image under the group ``<folder>:<group>``;
    a group without a folder falls back to the task's own data folder.
    """
    spec = task_get(snapshot.task)
    fallback = spec.data_folder if spec is not None else ""
    groups = snapshot.items.filter(provenance=Provenance.BASE).values_list("group", flat=True).distinct()
    return sorted({g.split(":", 1)[0] if ":" in g else fallback for g in groups} - {""})


def _base_licences(snapshot: Snapshot) -> list[dict[str, str]]:
    out = []
    for folder in _base_folders(snapshot):
        path = Path(settings.DATA_DIR) / folder / LICENCE_FILE
        entry = {"folder": folder, "file": f"{folder}/{LICENCE_FILE}", "title": "", "licence": ""}
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            entry["title"] = next((ln[2:].strip() for ln in text.splitlines() if ln.startswith("# ")), "")
            entry["licence"] = _licence_section(text)
        out.append(entry)
    return out


def dataset_card(snapshot: Snapshot) -> dict[str, Any]:
    """The card as a dict (``dataset_card.json``)."""
    spec = task_get(snapshot.task)
    provenance = snapshot_provenance_counts(snapshot=snapshot)
    licences = _base_licences(snapshot) if provenance.get(Provenance.BASE) else []
    data: list[dict[str, str]] = list(licences)
    if any(p != Provenance.BASE for p in provenance):
        data.append({"folder": "", "file": "", "title": "Reviewed cases", "licence": REVIEWED_DATA_NOTE})
    return {
        "format": FORMAT,
        "name": snapshot.name,
        "task": snapshot.task,
        "task_label": spec.label if spec is not None else snapshot.task,
        "version": snapshot.version,
        "content_hash": snapshot.content_hash,
        "classes": list(snapshot.class_names),
        "modality": spec.modality if spec is not None else "",
        # The split's parameters at the top level, as the trainer reads them (oncocore.training.sources).
        "seed": snapshot.seed,
        "val_fraction": snapshot.val_fraction,
        "test_fraction": snapshot.test_fraction,
        "include_base": snapshot.include_base,
        "split_by": "group, stratified by class (oncocore.datasets.split)",
        "counts": {side: dict(snapshot.counts.get(side, {})) for side in SPLITS},
        "images": snapshot.size,
        "provenance": provenance,
        "created_at": snapshot.created_at.isoformat(),
        "created_by": snapshot.created_by.get_username() if snapshot.created_by else "",
        "note": snapshot.note,
        "data_licences": data,
    }


def card_json_bytes(card: dict[str, Any]) -> bytes:
    return (json.dumps(card, indent=2, sort_keys=True) + "\n").encode("utf-8")


def card_md_bytes(card: dict[str, Any]) -> bytes:
    """The card for people: what the data is, how it was split, where it came from."""
    classes = card["classes"]
    lines = [
        f"# {card['name']}",
        "",
        f"{card['task_label']} (`{card['task']}`, modality {card['modality'] or 'unknown'}), "
        f"version {card['version']}, {card['images']} images.",
        "",
        f"- Format: `{card['format']}`",
        f"- Content hash: `{card['content_hash']}`",
        f"- Created: {card['created_at']} by {card['created_by'] or 'the system'}",
        f"- Split: by group, stratified by class; seed {card['seed']}, validation "
        f"{card['val_fraction']}, test {card['test_fraction']}; base data "
        f"{'included' if card['include_base'] else 'left out'}",
    ]
    if card["note"]:
        lines += [f"- Note: {card['note']}"]
    lines += ["", "## Images per split and class", "", "| split | " + " | ".join(classes) + " | total |"]
    lines += ["|---" * (len(classes) + 2) + "|"]
    for side in SPLITS:
        row = card["counts"].get(side, {})
        cells = [str(row.get(c, 0)) for c in classes]
        lines += [f"| {side} | " + " | ".join(cells) + f" | {sum(row.values())} |"]
    lines += ["", "## Provenance of the labels", ""]
    lines += [f"- {p}: {n}" for p, n in card["provenance"].items()]
    lines += ["", "## Data sources and licences", ""]
    for entry in card["data_licences"]:
        where = f" (`{entry['file']}`)" if entry["file"] else ""
        lines += [
            f"### {entry['title'] or entry['folder']}{where}",
            "",
            entry["licence"] or "Not stated.",
            "",
        ]
    lines += [
        "## Layout",
        "",
        "`manifest.csv` lists every image (path, class, split, group, sha256, image_id, provenance); "
        "the images are in `<split>/<class>/<image id>.<ext>`.",
        "",
    ]
    return "\n".join(lines).encode("utf-8")
