"""Freezing a task's included examples into an immutable, versioned snapshot.

A snapshot is the manifest (``oncocore.datasets.manifest``) of every included,
labelled example of one task, split deterministically by group
(``oncocore.datasets.split``), with a content hash over the rows and the
split parameters. The manifest file is written to storage first, then the
:class:`Snapshot` and its items in one transaction; the database refuses any
later UPDATE of either (migration 0002's triggers).

Freezing again when nothing changed (the same rows and parameters, so the
same content hash as the task's newest snapshot) is refused with a
:class:`SnapshotUnchanged` that names the existing snapshot: a second,
identical version would only confuse which one a job trained on. Changing
the seed, a fraction, ``include_base`` or any example gives a new version.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max

from cases.services.audit import AuditContext, audit_record
from cases.task_registry import task_get
from curation.models import Example, Provenance, Snapshot, SnapshotItem
from oncocore.datasets.manifest import (
    FORMAT,
    SPLITS,
    ManifestRow,
    content_hash,
    item_path,
    manifest_bytes,
)
from oncocore.datasets.split import split_by_group
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed

__all__ = ["SnapshotPlan", "SnapshotUnchanged", "snapshot_freeze", "snapshot_plan"]

STORAGE_DIR = "snapshots"


class SnapshotUnchanged(TransitionNotAllowed):
    """The task's newest snapshot already holds exactly these rows and parameters."""

    def __init__(self, existing: Snapshot):
        super().__init__(
            f"Nothing changed since {existing.name} (same examples and parameters, content hash "
            f"{existing.content_hash[:12]}): use that snapshot, or change the examples or the parameters."
        )
        self.existing = existing


@dataclass(frozen=True)
class SnapshotPlan:
    """What a freeze would write: the rows, split parameters, counts and content hash."""

    task: str
    rows: tuple[ManifestRow, ...]
    params: dict[str, Any]
    class_names: list[str]
    counts: dict[str, dict[str, int]]
    content_hash: str


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    if not (0.0 < val_fraction < 1.0 and 0.0 <= test_fraction < 1.0 and val_fraction + test_fraction < 1.0):
        raise InvalidInput(
            "The validation fraction must be in (0, 1), the test fraction in [0, 1), and their sum below 1 "
            f"(got {val_fraction} and {test_fraction})."
        )


def _examples(task: str, include_base: bool) -> list[Example]:
    qs = Example.objects.filter(task=task, included=True).exclude(label="").select_related("image")
    if not include_base:
        qs = qs.exclude(provenance=Provenance.BASE)
    return sorted(qs, key=lambda e: e.image_id)


def _row(e: Example, side: str) -> ManifestRow:
    return ManifestRow(
        path=item_path(
            split=side, label=e.label, image_id=e.image_id, suffix=PurePosixPath(e.image.file.name).suffix
        ),
        label=e.label,
        split=side,
        group=e.group,
        sha256=e.image.stored_sha256,
        image_id=e.image_id,
        provenance=e.provenance,
    )


def snapshot_plan(
    *,
    task: str,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    include_base: bool = True,
) -> SnapshotPlan:
    """The rows, split and hash a freeze of ``task`` would write now; writes nothing.

    Raises:
        InvalidInput: Unknown task, bad fractions, no examples, a label that is
            not one of the task's classes, or a class with too few groups.
    """
    spec = task_get(task)
    if spec is None:
        raise InvalidInput(f"Unknown task {task!r}.")
    _check_fractions(val_fraction, test_fraction)
    examples = _examples(task, include_base)
    if not examples:
        raise InvalidInput(
            f"Task {task} has no included, labelled examples{'' if include_base else ' besides the base data'}."
        )
    class_names = list(spec.classes)
    present = Counter(e.label for e in examples)
    unknown = sorted(set(present) - set(class_names))
    if unknown:
        raise InvalidInput(f"Labels {unknown} are not classes of task {task} ({', '.join(class_names)}).")
    missing = [c for c in class_names if c not in present]
    if missing:
        raise InvalidInput(f"Task {task} has no included examples of class(es) {', '.join(missing)}.")
    try:
        sides = split_by_group(
            [(e.label, e.group) for e in examples],
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
        )
    except ValueError as exc:
        raise InvalidInput(f"Cannot split task {task}: {exc}.") from exc
    try:
        rows = tuple(_row(e, side) for e, side in zip(examples, sides, strict=True))
    except ValueError as exc:  # a class that cannot name a folder
        raise InvalidInput(f"Cannot export task {task}: {exc}.") from exc
    params: dict[str, Any] = {
        "format": FORMAT,
        "task": task,
        "seed": seed,
        "val_fraction": val_fraction,
        "test_fraction": test_fraction,
        "include_base": include_base,
        "class_names": class_names,
    }
    counts = {side: dict.fromkeys(class_names, 0) for side in SPLITS}
    for row in rows:
        counts[row.split][row.label] += 1
    return SnapshotPlan(
        task=task,
        rows=tuple(sorted(rows, key=lambda r: r.path)),
        params=params,
        class_names=class_names,
        counts=counts,
        content_hash=content_hash(rows, params),
    )


def snapshot_freeze(
    *,
    task: str,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    include_base: bool = True,
    note: str = "",
    audit: AuditContext,
) -> Snapshot:
    """Freeze the task's included, labelled examples as its next snapshot version.

    Writes ``snapshots/<name>/manifest.csv`` first, then the snapshot and its
    items in one transaction (the file is removed again if that fails).

    Raises:
        InvalidInput: See :func:`snapshot_plan`.
        SnapshotUnchanged: The newest snapshot of the task has the same hash.
        TransitionNotAllowed: Another freeze of the task took the version first.
    """
    plan = snapshot_plan(
        task=task,
        seed=seed,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        include_base=include_base,
    )
    newest = Snapshot.objects.filter(task=task).order_by("-version").first()
    if newest is not None and newest.content_hash == plan.content_hash:
        raise SnapshotUnchanged(newest)
    version = (Snapshot.objects.filter(task=task).aggregate(v=Max("version"))["v"] or 0) + 1
    name = f"{task}-v{version}"
    stored = default_storage.save(
        f"{STORAGE_DIR}/{name}/manifest.csv", ContentFile(manifest_bytes(plan.rows))
    )
    try:
        with transaction.atomic():
            snapshot = Snapshot.objects.create(
                task=task,
                version=version,
                name=name,
                note=note,
                content_hash=plan.content_hash,
                seed=seed,
                val_fraction=val_fraction,
                test_fraction=test_fraction,
                include_base=include_base,
                class_names=plan.class_names,
                counts=plan.counts,
                manifest=stored,
                created_by=audit.actor,
            )
            SnapshotItem.objects.bulk_create(
                SnapshotItem(
                    snapshot=snapshot,
                    image_id=row.image_id,
                    sha256=row.sha256,
                    label=row.label,
                    group=row.group,
                    provenance=row.provenance,
                    split=row.split,
                    path=row.path,
                )
                for row in plan.rows
            )
            audit_record(
                action="snapshot_freeze",
                obj=snapshot,
                audit=audit,
                detail={
                    "name": name,
                    "content_hash": plan.content_hash,
                    "images": len(plan.rows),
                    "params": plan.params,
                    "counts": plan.counts,
                },
            )
    except IntegrityError as exc:
        default_storage.delete(stored)
        raise TransitionNotAllowed(
            f"Another freeze of task {task} took version {version} at the same time; try again."
        ) from exc
    except BaseException:
        default_storage.delete(stored)
        raise
    return snapshot
