"""Export a snapshot as a zip (OUT.zip) or an ImageFolder tree (OUT_DIR), with a progress bar."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from cases.models import AuditSource
from cases.services.audit import AuditContext
from curation.management.commands._snapshot_cli import resolve_snapshot, resolve_user
from curation.services.export import snapshot_export_stream, snapshot_write_folder
from oncoportal.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Export a snapshot (by id or name): to OUT.zip as a zip with everything under <name>/, or to "
        "OUT_DIR as a folder (train|val|test/<class>/..., manifest.csv, dataset card). Every image's "
        "SHA-256 is checked; nothing is left behind when one fails."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("snapshot", help="snapshot id or name, e.g. 3 or brain_mri-v3")
        parser.add_argument(
            "out", type=Path, help="OUT.zip, or a folder that does not exist yet (or is empty)"
        )
        parser.add_argument("--user", help="username recorded in the audit trail (default: none)")

    def handle(self, *args: Any, **opts: Any) -> None:
        snapshot = resolve_snapshot(opts["snapshot"])
        audit = AuditContext.system(source=AuditSource.CLI, actor=resolve_user(opts["user"]))
        out: Path = opts["out"]
        bar = tqdm(total=snapshot.size, unit="image", desc=snapshot.name, file=sys.stderr, disable=None)

        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        try:
            if out.suffix.lower() == ".zip":
                _write_zip(snapshot_export_stream(snapshot, progress=progress, audit=audit), out)
            else:
                snapshot_write_folder(snapshot, out, progress=progress, audit=audit)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        except (FileExistsError, OSError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.close()
        self.stdout.write(f"{snapshot.name}: {snapshot.size} images written to {out}")


def _write_zip(chunks: Any, out: Path) -> None:
    """Write to ``OUT.zip.partial`` and rename at the end: a failed export leaves nothing."""
    if out.exists():
        raise FileExistsError(f"{out} exists")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    try:
        with open(partial, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(partial, out)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
