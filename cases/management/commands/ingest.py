"""Bulk import for administrators: files, folders and zips, through the same intake service as the web."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from cases.management.commands._common import resolve_site
from cases.models import AuditSource, IntakeBatch, User
from cases.services.audit import AuditContext
from cases.services.intake import ItemResult, intake_limits, intake_sources
from cases.task_registry import task_keys
from oncocore.imaging import SourceFile, SourceRejected, expand_path
from oncocore.imaging.errors import one_line


class Command(BaseCommand):
    help = (
        "Ingest DICOM files, plain images, folders and zips. Prints a summary (or one JSON object "
        "with --json); exits non-zero only when nothing could be ingested."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", type=Path, help="files, folders or .zip archives")
        parser.add_argument(
            "--task", choices=task_keys(unassigned=True), help="task for the new cases (default: inferred)"
        )
        parser.add_argument("--site", help="site code (default: the only site)")
        parser.add_argument("--user", help="username recorded as uploader (default: none, a system import)")
        parser.add_argument("--patient-ref", default="", help="link plain images to this patient reference")
        parser.add_argument("--json", action="store_true", help="print one JSON object with the report")

    def handle(self, *args: Any, **opts: Any) -> None:
        site = resolve_site(opts["site"])
        user = None
        if opts["user"]:
            user = User.objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"unknown user {opts['user']!r}")
        # Sources are read lazily (a folder may hold gigabytes); the total is a
        # cheap file count, so the bar is right for folders and counts zips as one.
        total = sum(_count_files(p) for p in opts["paths"])
        bar = tqdm(total=total, unit="file", desc="ingest", file=sys.stderr, disable=None)
        # The operator's own terminal names each file by its path; nothing stored does
        # (the batch report, the audit and --json name files by position: file-001.dcm).
        originals: list[str] = []
        report = intake_sources(
            uploads=self._sources(opts["paths"], originals),
            site=site,
            user=user,
            source=IntakeBatch.Source.CLI,
            task=opts["task"],
            patient_ref=opts["patient_ref"],
            audit=AuditContext.system(source=AuditSource.CLI, actor=user),
            progress=lambda name: bar.update(1) if bar.n < total else None,
        )
        bar.close()
        if opts["json"]:
            self.stdout.write(json.dumps(report.to_dict(), indent=None, sort_keys=True))
        else:
            # One line per file, whatever a reason holds (an unexpected storage error may span lines).
            # The decoders' own chatter is in the debug log (oncocore.imaging.decoder_log), not here.
            for item in report.rejected:
                shown = _original(item, originals)
                self.stdout.write(f"rejected  {one_line(shown)}: {one_line(item.reason, 500)}")
            for item in report.duplicates:
                shown = _original(item, originals)
                self.stdout.write(f"duplicate {one_line(shown)}: {one_line(item.reason, 500)}")
            self.stdout.write(
                f"{len(report.accepted)} accepted into {len(report.case_ids)} case(s), "
                f"{len(report.duplicates)} duplicate, {len(report.rejected)} rejected (batch {report.batch_id})"
            )
        if not report.accepted and not report.duplicates:
            raise CommandError("nothing could be ingested")

    def _sources(self, paths: list[Path], originals: list[str]) -> Iterator[SourceFile | SourceRejected]:
        """Every file under ``paths``; ``originals`` collects their names in order, for the terminal only."""
        limits = intake_limits()
        for path in paths:
            if not path.exists():
                originals.append(str(path))
                yield SourceRejected(name=str(path), reason="no such file or folder")
                continue
            for src in expand_path(path, limits):
                originals.append(src.name)
                yield src


def _original(item: ItemResult, originals: list[str]) -> str:
    """The path of the file at ``item.position``, as the operator gave it (for the terminal only)."""
    return originals[item.position - 1] if 0 < item.position <= len(originals) else item.name


def _count_files(path: Path) -> int:
    if path.is_dir():
        return sum(1 for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    return 1
