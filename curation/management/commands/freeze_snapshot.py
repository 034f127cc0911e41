"""Freeze a task's included, labelled examples as its next immutable snapshot version."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from curation.management.commands._snapshot_cli import resolve_user
from curation.services.snapshots import snapshot_freeze
from oncocore.datasets.manifest import SPLITS
from oncoportal.exceptions import DomainError


class Command(BaseCommand):
    help = (
        "Freeze the included, labelled examples of a task as a snapshot: deterministic group split "
        "(train/val/test, stratified by class), manifest and content hash. Refused when nothing changed "
        "since the task's newest snapshot."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--task", required=True, help="task key, e.g. brain_mri")
        parser.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
        parser.add_argument("--val-fraction", type=float, default=0.15, help="per class (default 0.15)")
        parser.add_argument("--test-fraction", type=float, default=0.15, help="per class; 0: no test split")
        parser.add_argument("--no-base", action="store_true", help="leave the imported base data out")
        parser.add_argument("--note", default="", help="a note kept on the snapshot")
        parser.add_argument("--user", help="username recorded as the Curator (default: none, the system)")

    def handle(self, *args: Any, **opts: Any) -> None:
        user = resolve_user(opts["user"])
        try:
            snapshot = snapshot_freeze(
                task=opts["task"],
                seed=opts["seed"],
                val_fraction=opts["val_fraction"],
                test_fraction=opts["test_fraction"],
                include_base=not opts["no_base"],
                note=opts["note"],
                audit=AuditContext.system(source=AuditSource.CLI, actor=user),
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        split_sizes = ", ".join(f"{side} {sum(snapshot.counts[side].values())}" for side in SPLITS)
        self.stdout.write(
            f"{snapshot.name} (id {snapshot.pk}): {snapshot.size} images ({split_sizes}), "
            f"content hash {snapshot.content_hash}"
        )
