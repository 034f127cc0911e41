"""Rebuild the labelled examples of every reviewed case: for readings from before curation existed."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand
from tqdm import tqdm

from cases.models import AuditSource, Case, CaseStatus
from cases.services.audit import AuditContext
from curation.services.examples import examples_sync_all


class Command(BaseCommand):
    help = (
        "Build or refresh the labelled examples of every reviewed case (idempotent; keeps include/exclude)."
    )

    def handle(self, *args: Any, **opts: Any) -> None:
        total = Case.objects.filter(status=CaseStatus.REVIEWED).count()
        bar = tqdm(total=total, unit="case", desc="sync", file=sys.stderr, disable=None)
        cases, written = examples_sync_all(
            audit=AuditContext.system(source=AuditSource.CLI), progress=lambda _pk: bar.update(1)
        )
        bar.close()
        self.stdout.write(f"{cases} reviewed case(s), {written} example(s) created or updated")
