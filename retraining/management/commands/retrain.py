"""Queue a retraining job on a snapshot; with --wait, follow it to its end with a progress bar.

    manage.py retrain --snapshot brain_mri-v3 --mode finetune --recipe quick --wait

A training worker (`-Q training`, README "Retraining") runs the job; the
exit status with --wait is 0 when it succeeded, 1 when it failed or was cancelled.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from cases.models import AuditSource
from cases.services.audit import AuditContext
from curation.management.commands._snapshot_cli import resolve_snapshot
from inference.models import ModelVersion
from oncoportal.exceptions import DomainError
from retraining.models import JobMode, JobStatus, TrainingJob
from retraining.selectors import job_phase_label, job_progress, recipe_choices
from retraining.services.jobs import job_start

POLL_S = 2.0


class Command(BaseCommand):
    help = "Queue a retraining job on a snapshot (fine-tune the active model or train afresh)."

    def add_arguments(self, parser: CommandParser) -> None:
        recipes = recipe_choices()
        parser.add_argument("--snapshot", required=True, help="snapshot id or name, e.g. brain_mri-v3")
        parser.add_argument("--mode", choices=JobMode.values, default=JobMode.FINETUNE)
        parser.add_argument(
            "--recipe",
            default="quick",
            help="; ".join(f"{name}: {description}" for name, description in recipes) + " (default: quick)",
        )
        parser.add_argument(
            "--base",
            type=int,
            default=None,
            help="ModelVersion id to fine-tune (default: the task's active model)",
        )
        parser.add_argument(
            "--wait", action="store_true", help="follow the job; exit 1 if it fails or is cancelled"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        snapshot = resolve_snapshot(opts["snapshot"])
        base = None
        if opts["base"] is not None:
            base = ModelVersion.objects.filter(pk=opts["base"]).first()
            if base is None:
                raise CommandError(f"no model version with id {opts['base']}")
        try:
            job = job_start(
                snapshot=snapshot,
                mode=opts["mode"],
                recipe=opts["recipe"],
                base_version=base,
                audit=AuditContext.system(source=AuditSource.CLI),
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"training job {job.pk} queued: {snapshot.name}, {job.mode}, recipe {job.recipe}")
        if opts["wait"]:
            job = self.follow(job)
            if job.status != JobStatus.SUCCEEDED:
                raise CommandError(
                    f"training job {job.pk} {job.status}" + (f": {job.error}" if job.error else "")
                )
            assert job.result_version is not None
            self.stdout.write(
                f"training job {job.pk} succeeded: candidate {job.result_version.label} "
                f"(id {job.result_version.pk}), registered, not active"
            )

    def follow(self, job: TrainingJob) -> TrainingJob:
        """A progress bar of epochs (fractional within one) until the job ends."""
        bar = tqdm(total=1.0, unit="job", file=sys.stderr, disable=None, bar_format="{l_bar}{bar}| {postfix}")
        try:
            while True:
                job.refresh_from_db()
                progress = job_progress(job)
                bar.n = progress["fraction"]
                bar.set_description(f"job {job.pk} {job_phase_label(job).lower()}")
                bar.set_postfix_str(
                    f"epoch {job.epoch}/{job.epochs or '?'} loss {progress['train_loss'] or 0:.4f} "
                    f"val F1 {progress['val_macro_f1'] or 0:.3f}",
                    refresh=True,
                )
                if job.finished:
                    return job
                time.sleep(POLL_S)
        finally:
            bar.close()
