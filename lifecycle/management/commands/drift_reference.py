"""Build a model version's drift reference from its validation images (docs/drift.md).

manage.py drift_reference brain_mri@2026.11.23-cpu.2 [--snapshot brain_mri-v3] [--limit 600]
manage.py drift_reference --active --missing      # every task's active lead that has none
manage.py drift_reference --active --missing --queue   # the same, built by the inference worker (make run)
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from cases.models import AuditSource
from cases.services.audit import AuditContext
from curation.management.commands._snapshot_cli import resolve_snapshot
from inference.management.commands._versions import get_version
from inference.models import ModelVersion
from inference.selectors import active_ensemble
from lifecycle.models import DriftReference
from lifecycle.services.drift import drift_reference_build, drift_reference_request
from oncocore.imaging.errors import one_line
from oncoportal.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Score a model version's validation images (its training snapshot's validation split, or the "
        "data folder's split as its training made it) and store them as its drift reference."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("versions", nargs="*", help="name@version (or name when it has one version)")
        parser.add_argument("--active", action="store_true", help="every task's active lead as well")
        parser.add_argument("--missing", action="store_true", help="skip versions that have a reference")
        parser.add_argument(
            "--queue", action="store_true", help="let the inference worker build them (returns at once)"
        )
        parser.add_argument("--snapshot", help="use this snapshot's validation split (id or name)")
        parser.add_argument("--data-dir", type=Path, help="data root or data folder (default: DATA_DIR)")
        parser.add_argument(
            "--limit", type=int, help="at most N images (default ONCOPORTAL_DRIFT_REFERENCE_LIMIT, 600)"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["limit"] is not None and opts["limit"] < 1:
            raise CommandError("--limit must be 1 or more")
        versions = [get_version(ref) for ref in opts["versions"]]
        if opts["active"]:
            tasks = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list(
                "task", flat=True
            )
            for task in sorted(set(tasks)):
                versions += active_ensemble(task=task)[:1]
        if not versions:
            raise CommandError("name a version (name@version) or use --active")
        if opts["missing"]:
            have = set(DriftReference.objects.values_list("model_version_id", flat=True))
            versions = [v for v in versions if v.pk not in have]
        snapshot = resolve_snapshot(opts["snapshot"]) if opts["snapshot"] else None
        audit = AuditContext.system(source=AuditSource.CLI)
        if opts["queue"]:
            for version in dict.fromkeys(versions):
                try:
                    drift_reference_request(version=version, snapshot=snapshot, audit=audit)
                except DomainError as exc:
                    raise CommandError(one_line(exc.message, 500)) from None
                self.stdout.write(f"{version}: reference queued for the inference worker")
            return
        for version in dict.fromkeys(versions):  # once each, in order
            bar = tqdm(unit="image", desc=str(version), file=sys.stderr, disable=None)

            def tick(done: int, total: int, bar: tqdm[Any] = bar) -> None:
                bar.total = total
                bar.update(done - bar.n)

            try:
                reference = drift_reference_build(
                    version=version,
                    audit=audit,
                    snapshot=snapshot,
                    data_dir=opts["data_dir"],
                    limit=opts["limit"],
                    progress=tick,
                )
            except DomainError as exc:
                raise CommandError(one_line(exc.message, 500)) from None
            finally:
                bar.close()
            stats = reference.stats
            oos = stats["scope"]["out"]
            self.stdout.write(
                f"{version}: reference of {reference.n} image(s) from {reference.source}"
                f" ({oos} out of scope, {stats.get('failed', 0)} could not be decoded)"
            )
