"""Import the training images of the data folders once, through the intake, as base-data examples."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from cases.models import AuditSource
from cases.services.audit import AuditContext
from cases.task_registry import task_all
from curation.services.base_data import base_data_import
from oncocore.imaging.errors import one_line
from oncoportal.exceptions import InvalidInput


class Command(BaseCommand):
    help = (
        "Import base (training) data once as labelled examples: every task's data folder under DATA_DIR, "
        "or one folder with --data-dir (MANIFEST.tsv with path, class and a group column). "
        "A second run adds nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data-dir", type=Path, help="one data folder (default: each task's under DATA_DIR)"
        )
        parser.add_argument("--task", help="the folder's task (default: the task whose data folder it is)")
        parser.add_argument("--group-column", help="the manifest column that groups near-duplicates")
        parser.add_argument("--limit-per-class", type=int, help="import at most N images of each class")

    def handle(self, *args: Any, **opts: Any) -> None:
        limit = opts["limit_per_class"]
        if limit is not None and limit < 1:
            raise CommandError("--limit-per-class must be 1 or more")
        if opts["data_dir"]:
            folders = [opts["data_dir"]]
        else:
            # Every task's data folder (or, with --task, that task's) that has a manifest.
            folders = [
                settings.DATA_DIR / t.data_folder
                for t in task_all()
                if t.data_folder
                and opts["task"] in (None, t.key)
                and (settings.DATA_DIR / t.data_folder / "MANIFEST.tsv").exists()
            ]
            if not folders:
                which = f"task {opts['task']!r}'s data folder" if opts["task"] else "any task's data folder"
                raise CommandError(f"no MANIFEST.tsv in {which} under {settings.DATA_DIR}")
        audit = AuditContext.system(source=AuditSource.CLI)
        for folder in folders:
            bar = tqdm(unit="image", desc=Path(folder).name, file=sys.stderr, disable=None)
            try:
                report = base_data_import(
                    data_dir=folder,
                    task=opts["task"],
                    group_column=opts["group_column"],
                    limit_per_class=limit,
                    audit=audit,
                    progress=partial(_tick, bar),
                )
            except InvalidInput as exc:
                raise CommandError(one_line(str(exc), 500)) from None
            finally:
                bar.close()
            for name, reason in report.rejected:
                self.stdout.write(f"rejected  {one_line(name)}: {one_line(reason, 500)}")
            classes = ", ".join(f"{label} {n}" for label, n in sorted(report.per_class.items()))
            self.stdout.write(
                f"{Path(folder).name}: {report.accepted} new, {report.duplicates} already imported, "
                f"{len(report.rejected)} rejected; {report.examples_created} example(s) created, "
                f"{report.examples_updated} updated (per class: {classes or 'none'})"
            )


def _tick(bar: tqdm[Any], _name: str) -> None:
    bar.update(1)
