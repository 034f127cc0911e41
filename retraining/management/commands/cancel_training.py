"""Cancel a retraining job: a queued one ends at once, a running one is stopped by its worker."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.models import AuditSource
from cases.services.audit import AuditContext
from oncoportal.exceptions import DomainError
from retraining.models import TrainingJob
from retraining.services.jobs import job_cancel


class Command(BaseCommand):
    help = "Cancel a training job (queued: at once; running: its worker stops the trainer)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("job_id", type=int)

    def handle(self, *args: Any, **opts: Any) -> None:
        job = TrainingJob.objects.filter(pk=opts["job_id"]).first()
        if job is None:
            raise CommandError(f"no training job {opts['job_id']}")
        try:
            job = job_cancel(job=job, audit=AuditContext.system(source=AuditSource.CLI))
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"training job {job.pk}: {job.status}")
