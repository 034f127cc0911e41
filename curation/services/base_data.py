"""Importing the base (training) data once, through the normal intake, as labelled examples.

A data folder (``settings.DATA_DIR/<task's data_folder>`` or any folder with
the same ``MANIFEST.tsv`` layout: ``path``, ``class`` and a group column)
is ingested under the base-data site (``settings.BASE_DATA_SITE``, created if
missing). Each image becomes an :class:`~curation.models.Example` with
provenance ``base``, the manifest's class as label, ``<folder>:<group>`` as
group and the manifest path as ``source_path``.

How the base images stay out of the readers' way:

* the intake is told not to announce the batch (``announce=False``), so no
  prediction is queued for them and the inference queue never sees them;
* their cases move straight to *reviewed* (received → in review → reviewed,
  through the lifecycle service): they are labelled already, so they are in
  no reader's queue and a stray extra reading reopens nothing;
* the worklist leaves out the base-data site's cases
  (``cases.selectors.worklist_for_user``), and no reader belongs to that site.

Idempotent: the intake reports known bytes as duplicates, and the example is
made (or repaired) for them anyway, so an interrupted import can be run again.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from cases.models import CaseStatus, Image, IntakeBatch, Site
from cases.services.audit import AuditContext, audit_record
from cases.services.intake import intake_sources
from cases.services.lifecycle import cases_set_status
from cases.task_registry import task_all, task_get
from curation.models import Example, Provenance
from oncocore.tasks import TaskSpec
from oncocore.training.data import GROUP_COLUMNS, read_manifest
from oncoportal.exceptions import InvalidInput

BASE_SITE_NAME = "Base data (training images)"


@dataclass
class BaseImportReport:
    """What an import did: images new to the platform, already there, rejected (name, reason), examples written."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    examples_created: int = 0
    examples_updated: int = 0
    per_class: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class BaseRow:
    path: str
    label: str
    group: str
    file: Path


def base_site_get_or_create(*, audit: AuditContext) -> Site:
    """The base-data site (``settings.BASE_DATA_SITE``), created (and audited) the first time."""
    site, created = Site.objects.get_or_create(
        code=settings.BASE_DATA_SITE, defaults={"name": BASE_SITE_NAME}
    )
    if created:
        audit_record(action="site.created", obj=site, site=site, audit=audit, detail={"code": site.code})
    return site


def base_task_for_folder(folder: str) -> TaskSpec | None:
    """The task whose ``data_folder`` is this folder name (brain_mri, lung_ct, histo_lung), if any."""
    return next((t for t in task_all() if t.data_folder and t.data_folder == folder), None)


def base_rows(
    *, data_dir: Path, spec: TaskSpec, group_column: str, limit_per_class: int | None = None
) -> tuple[list[BaseRow], list[tuple[str, str]]]:
    """The manifest's rows to import and those refused (path, reason): an unknown class, a missing file.

    Raises InvalidInput for a folder without a readable manifest or without the group column.
    """
    try:
        rows = read_manifest(data_dir)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{data_dir}: {exc}") from exc
    if group_column not in rows[0]:
        raise InvalidInput(f"{data_dir / 'MANIFEST.tsv'}: no group column {group_column!r}")
    folder = data_dir.name
    if limit_per_class is not None:
        rows = _spread_over_groups(rows, group_column)
    taken: Counter[str] = Counter()
    chosen: list[BaseRow] = []
    refused: list[tuple[str, str]] = []
    for row in rows:
        label, path = row["class"], row["path"]
        if label not in spec.classes:
            refused.append((path, f"class {label!r} is not one of {spec.key}'s: {', '.join(spec.classes)}"))
            continue
        if limit_per_class is not None and taken[label] >= limit_per_class:
            continue
        if not row[group_column]:
            refused.append((path, f"no {group_column} group"))
            continue
        file = Path(row["abs_path"])
        if not file.is_file():
            refused.append((path, "no such file"))
            continue
        taken[label] += 1
        chosen.append(BaseRow(path=path, label=label, group=f"{folder}:{row[group_column]}", file=file))
    return chosen, refused


def _spread_over_groups(rows: list[dict[str, str]], group_column: str) -> list[dict[str, str]]:
    """The rows reordered so a class's first N span as many groups as they can: every group's
    first image (in manifest order), then every group's second, and so on.

    A limited import (a demo) then still holds enough groups per class for a snapshot's
    three-way group split; the order is a pure function of the manifest.
    """
    seen: Counter[str] = Counter()
    ranked = []
    for index, row in enumerate(rows):
        group = row.get(group_column, "")
        ranked.append((seen[group], index, row))
        seen[group] += 1
    return [row for _, _, row in sorted(ranked, key=lambda t: (t[0], t[1]))]


def base_data_import(
    *,
    data_dir: Path,
    task: str | None = None,
    group_column: str | None = None,
    limit_per_class: int | None = None,
    audit: AuditContext,
    progress: Callable[[str], object] | None = None,
) -> BaseImportReport:
    """Import a data folder once as base data; returns what it did. Safe to run again (adds nothing new).

    ``task`` defaults to the task whose ``data_folder`` is the folder's name,
    ``group_column`` to the shipped folder's (``GROUP_COLUMNS``). Raises
    InvalidInput for an unknown task, a folder without a manifest or without
    the group column. Rows that cannot be imported are reported, never raised.
    """
    data_dir = Path(data_dir).resolve()
    spec = task_get(task) if task else base_task_for_folder(data_dir.name)
    if spec is None:
        raise InvalidInput(
            f"unknown task {task!r}"
            if task
            else f"no task has the data folder {data_dir.name!r}: give --task"
        )
    column = group_column or GROUP_COLUMNS.get(data_dir.name)
    if not column:
        raise InvalidInput(f"{data_dir.name}: give the manifest's group column (--group-column)")
    rows, refused = base_rows(
        data_dir=data_dir, spec=spec, group_column=column, limit_per_class=limit_per_class
    )
    report = BaseImportReport(rejected=list(refused))
    site = base_site_get_or_create(audit=audit)
    by_name = {row.path: row for row in rows}
    sha_of: dict[str, str] = {}

    def uploads() -> Iterator[tuple[str, bytes]]:
        for row in rows:
            data = row.file.read_bytes()
            sha_of[row.path] = hashlib.sha256(data).hexdigest()
            yield row.path, data

    intake = intake_sources(
        uploads=uploads(),
        site=site,
        user=audit.actor,
        source=IntakeBatch.Source.CLI,
        task=spec.key,
        audit=audit,
        progress=progress,
        announce=False,
    )
    report.accepted, report.duplicates = len(intake.accepted), len(intake.duplicates)
    # Intake names files by position (file-003.jpg); the manifest path is the row at that position.
    paths = list(sha_of)  # in the order uploads() read them
    path_of = {
        item.position: paths[item.position - 1] for item in intake.items if 0 < item.position <= len(paths)
    }
    report.rejected += [(path_of.get(item.position, item.name), item.reason) for item in intake.rejected]
    stored = [
        path_of[item.position] for item in [*intake.accepted, *intake.duplicates] if item.position in path_of
    ]
    _examples_ensure(
        rows=[by_name[name] for name in stored], sha_of=sha_of, site=site, spec=spec, report=report
    )
    # "Already imported" are the known images that are (now) base examples; a known image the
    # examples refused (stored at another site, same bytes as another row) is counted as rejected only.
    refused_paths = {path for path, _ in report.rejected}
    report.duplicates = sum(
        1 for item in intake.duplicates if path_of.get(item.position) not in refused_paths
    )
    audit_record(
        action="curation.base_data_imported",
        site=site,
        audit=audit,
        detail={
            "folder": str(data_dir),
            "task": spec.key,
            "group_column": column,
            "accepted": report.accepted,
            "duplicates": report.duplicates,
            "rejected": len(report.rejected),
            "examples_created": report.examples_created,
            "examples_updated": report.examples_updated,
            "batch": intake.batch_id,
        },
    )
    return report


@transaction.atomic
def _examples_ensure(
    *,
    rows: list[BaseRow],
    sha_of: dict[str, str],
    site: Site,
    spec: TaskSpec,
    report: BaseImportReport,
) -> None:
    """A base example for every stored row (new or a duplicate), and its case reviewed; never a second one."""
    images = {
        image.sha256: image
        for image in Image.objects.select_related("case").filter(sha256__in=[sha_of[r.path] for r in rows])
    }
    existing = {
        e.image_id: e for e in Example.objects.select_for_update().filter(image__in=list(images.values()))
    }
    base_cases: set[int] = set()
    done: dict[int, str] = {}
    for row in rows:
        image = images.get(sha_of[row.path])
        if image is not None and image.pk in done:
            report.rejected.append((row.path, f"same bytes as {done[image.pk]}"))
            continue
        if image is None:  # stored by a concurrent upload and gone again: nothing to point at
            report.rejected.append((row.path, "the stored image could not be found"))
            continue
        if image.case.site_id != site.pk:
            report.rejected.append(
                (row.path, f"already stored at another site (case {image.case_id}): not base data")
            )
            continue
        base_cases.add(image.case_id)
        done[image.pk] = row.path
        report.per_class[row.label] += 1
        fields = {
            "label": row.label,
            "group": row.group,
            "source_path": row.path,
            "task": spec.key,
            "provenance": Provenance.BASE,
        }
        example = existing.get(image.pk)
        if example is None:
            Example.objects.create(
                image=image,
                case_id=image.case_id,
                site=site,
                labelled_at=image.created_at,
                **fields,
            )
            report.examples_created += 1
        elif any(getattr(example, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(example, k, v)
            example.save()
            report.examples_updated += 1
    # Labelled already: straight to reviewed (each step only moves the cases it may).
    ids = sorted(base_cases)
    cases_set_status(case_ids=ids, status=CaseStatus.IN_REVIEW)
    cases_set_status(case_ids=ids, status=CaseStatus.REVIEWED)
