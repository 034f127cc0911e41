"""Where a run's images come from: a data folder (``MANIFEST.tsv``) or an exported snapshot.

Two layouts, one result (:class:`RunData`):

- a **data folder** of ``../shared/data`` (``MANIFEST.tsv``): ``--task`` names it;
  train/validation are split here by the task's group column (``data.group_split``);
  there is no test split;
- a **snapshot folder** exported by the platform (``manifest.csv`` +
  ``dataset_card.json``, see ``oncocore.datasets.manifest``): the split is the
  snapshot's own ``split`` column (``train``, ``val``, ``test``), and the task,
  classes and modality come from its card, so ``--task`` is optional.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..datasets.manifest import CARD_JSON_NAME, MANIFEST_NAME, is_snapshot_dir, read_manifest_csv
from ..tasks import builtin_task
from .data import (
    CARD_TASKS,
    GROUP_COLUMNS,
    MODALITIES,
    Row,
    group_split,
    limit_per_class,
    manifest_digest,
    read_manifest,
)

__all__ = ["AUGMENT_FAMILIES", "RunData", "load_run_data", "read_snapshot"]

#: DICOM modality on a snapshot card -> augmentation family (``augment.make_augment``).
AUGMENT_FAMILIES = {"MR": "mr", "CT": "ct", "SM": "histology"}


@dataclass
class RunData:
    """The rows of one run, split, and what the model card says about them.

    Attributes:
        dataset: Data folder key (``brain_mri``...), or the task key for a custom task.
        card_task: Task key written on the model card.
        classes: Label order (sorted class names).
        augment_family: ``mr``, ``ct``, ``histology`` or ``none``.
        train, val, test: Rows (``path``, ``class``, ``abs_path``, ``sha1``...); ``test`` may be empty.
        training_data: The card's ``training_data`` record (counts are added later).
    """

    dataset: str
    card_task: str
    classes: list[str]
    augment_family: str
    train: list[Row]
    val: list[Row]
    test: list[Row] = field(default_factory=list)
    training_data: dict[str, Any] = field(default_factory=dict)


def read_snapshot(data_dir: str | Path) -> tuple[dict[str, Any], dict[str, list[Row]]]:
    """Read an exported snapshot folder.

    Returns:
        ``(dataset card dict, {"train": rows, "val": rows, "test": rows})``; each row
        has ``path``, ``class``, ``abs_path``, ``group``, ``sha1`` (the file's SHA-256,
        under the key the image cache uses) and ``provenance``.

    Raises:
        ValueError: A bad manifest or card, or a listed image missing.
    """
    root = Path(data_dir)
    card = json.loads((root / CARD_JSON_NAME).read_text(encoding="utf-8"))
    splits: dict[str, list[Row]] = {"train": [], "val": [], "test": []}
    for item in read_manifest_csv(root / MANIFEST_NAME):
        path = root / item.path
        if not path.is_file():
            raise ValueError(f"{root / MANIFEST_NAME}: {item.path} is listed but missing")
        splits[item.split].append(
            {
                "path": item.path,
                "class": item.label,
                "abs_path": str(path),
                "group": item.group,
                "sha1": item.sha256,
                "provenance": item.provenance,
            }
        )
    return card, splits


def _from_snapshot(args: argparse.Namespace) -> RunData:
    card, splits = read_snapshot(args.data_dir)
    task = str(card.get("task") or "")
    if not task:
        raise ValueError(f"{args.data_dir}: the dataset card names no task")
    spec = builtin_task(task)
    dataset = spec.data_folder if spec is not None and spec.data_folder else task
    if args.task and args.task not in (task, dataset):
        raise ValueError(f"--task {args.task} but the snapshot {args.data_dir} is of task {task}")
    present = {r["class"] for rows in splits.values() for r in rows}
    classes = sorted(set(card.get("classes") or ()) | present)
    for side, label in (("train", "training"), ("val", "validation")):
        if not splits[side]:
            raise ValueError(f"{args.data_dir}: the snapshot has no {label} images")
    family = AUGMENT_FAMILIES.get(str(card.get("modality") or "").upper(), "none")
    snapshot = {
        key: card.get(key)
        for key in ("name", "version", "content_hash", "counts", "seed", "val_fraction", "test_fraction")
        if card.get(key) is not None
    }
    training_data = {
        "dataset": dataset,
        "data_dir": str(args.data_dir),
        "snapshot": snapshot,
        "split": "the snapshot's own train/val/test split (groups never straddle splits)",
        "licence": "see the snapshot's dataset card",
    }
    return RunData(
        dataset=dataset,
        card_task=args.card_task or task,
        classes=classes,
        augment_family=family,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        training_data=training_data,
    )


def _from_data_folder(args: argparse.Namespace, split_seed: int) -> RunData:
    group_col = GROUP_COLUMNS[args.task]
    rows = read_manifest(args.data_dir)
    if args.limit_per_class:
        rows = limit_per_class(rows, args.limit_per_class, group_col, split_seed)
    train_rows, val_rows = group_split(rows, group_col, args.val_fraction, split_seed)
    training_data = {
        "dataset": args.task,
        "data_dir": str(args.data_dir),
        "manifest_sha256": manifest_digest(rows),
        "group_column": group_col,
        "val_fraction": args.val_fraction,
        "split_seed": split_seed,
        "licence": "see SOURCE_AND_LICENSE.md in the data folder",
    }
    return RunData(
        dataset=args.task,
        card_task=args.card_task or CARD_TASKS[args.task],
        classes=sorted({r["class"] for r in rows}),
        augment_family=MODALITIES[args.task],
        train=train_rows,
        val=val_rows,
        training_data=training_data,
    )


def load_run_data(args: argparse.Namespace, split_seed: int) -> RunData:
    """The run's rows from ``args.data_dir``: a snapshot folder or a ``MANIFEST.tsv`` data folder.

    Raises:
        ValueError: No ``--task`` for a data folder, or a bad snapshot.
    """
    if is_snapshot_dir(args.data_dir):
        return _from_snapshot(args)
    if not args.task:
        raise ValueError(f"--task is required: {args.data_dir} is not a snapshot folder")
    return _from_data_folder(args, split_seed)
