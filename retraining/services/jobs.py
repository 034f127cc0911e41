"""Starting, cancelling and sweeping retraining jobs (the runner is retraining.services.runner).

A job's state lives in its row, not in the broker: the message that starts it
is acknowledged on receipt (oncoportal/celery_config.py), the runner beats the
row's heartbeat while the trainer runs, and :func:`jobs_sweep` sends again a
job whose heartbeat went stale (its worker died: the runner resumes from the
last checkpoint) or whose message never started it.
"""

from __future__ import annotations

import logging
import shutil
from datetime import datetime, timedelta
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cases.models import AuditSource
from cases.services.audit import AuditContext, audit_record
from curation.models import Snapshot
from inference.models import ModelVersion
from inference.selectors import active_ensemble
from oncocore.training.recipes import recipes
from oncoportal import celery_config
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed
from retraining.models import JobMode, JobStatus, TrainingJob

logger = logging.getLogger(__name__)

#: The trainer exports the candidate bundle into ``<run dir>/bundle`` (via ``bundle.tmp-...``).
STAGED_BUNDLE = "bundle"


def job_send(job_id: int) -> None:
    """Queue the job's message on the ``training`` queue after the current transaction commits.

    Robust: with the broker down the job stays QUEUED and the sweeper sends it later.
    """
    # By name (retraining.tasks imports the services, not the other way round); routed to "training".
    transaction.on_commit(
        lambda: current_app.send_task(celery_config.RUN_TRAINING_JOB, args=[job_id]), robust=True
    )


def _base_for(*, snapshot: Snapshot, mode: str, base_version: ModelVersion | None) -> ModelVersion | None:
    """The model a fine-tune starts from (the task's active lead unless one is given); None afresh."""
    if mode == JobMode.FRESH:
        if base_version is not None:
            raise InvalidInput("a base model is only used when fine-tuning; leave it empty to train afresh")
        return None
    if base_version is None:
        active = active_ensemble(task=snapshot.task)
        if not active:
            raise InvalidInput(
                f"fine-tuning needs an active model for {snapshot.task}, and it has none: "
                "train afresh, or activate a model first"
            )
        base_version = active[0]
    if base_version.task != snapshot.task:
        raise InvalidInput(
            f"{base_version.label} is a {base_version.task} model; snapshot {snapshot.name} is {snapshot.task}"
        )
    return base_version


def job_start(
    *,
    snapshot: Snapshot,
    mode: str,
    recipe: str,
    base_version: ModelVersion | None = None,
    audit: AuditContext,
) -> TrainingJob:
    """Queue a retraining job on a frozen snapshot; the ``training`` queue runs it.

    Fine-tuning starts from ``base_version``, by default the lead of the
    snapshot's task's active ensemble. A base whose classes differ from the
    snapshot's gives its backbone only (the trainer starts a fresh head and
    says so on the card); that is recorded in the audit event.

    Raises:
        InvalidInput: An unknown mode or recipe, a snapshot with fewer than two
            classes, or a fine-tune with no usable base model.
    """
    if mode not in JobMode.values:
        raise InvalidInput(f"unknown mode {mode!r}; one of {', '.join(JobMode.values)}")
    known = recipes()
    if recipe not in known:
        raise InvalidInput(f"unknown recipe {recipe!r}; one of {', '.join(sorted(known))}")
    if len(snapshot.class_names) < 2:
        raise InvalidInput(
            f"snapshot {snapshot.name} has {len(snapshot.class_names)} class(es); training needs two"
        )
    base = _base_for(snapshot=snapshot, mode=mode, base_version=base_version)
    same_classes = base is None or list(base.class_names) == list(snapshot.class_names)
    with transaction.atomic():
        job = TrainingJob.objects.create(
            snapshot=snapshot,
            task=snapshot.task,
            mode=mode,
            recipe=recipe,
            base_version=base,
            created_by=audit.actor,
        )
        audit_record(
            action="training_job.started",
            obj=job,
            audit=audit,
            detail={
                "snapshot": snapshot.name,
                "content_hash": snapshot.content_hash,
                "mode": mode,
                "recipe": recipe,
                "base_version": base.label if base else None,
                "head": "kept" if same_classes else "fresh (the base's classes differ)",
            },
        )
        job_send(job.pk)
    return job


def job_run_dir(job_id: int) -> str:
    """Where a job keeps its snapshot copy, checkpoints, progress file and logs.

    The runner's own settings decide (its ``ONCOPORTAL_VAR_DIR``, a volume the
    training nodes share), so it records the folder when it claims the job.
    """
    return str(settings.TRAINING_DIR / f"job-{job_id}")


def job_cancel(*, job: TrainingJob, audit: AuditContext) -> TrainingJob:
    """Cancel a job: a queued one ends at once; a running one is CANCELLING until its runner stops the trainer.

    Idempotent for a job already cancelling or cancelled. Raises
    TransitionNotAllowed for a job that failed or succeeded.
    """
    with transaction.atomic():
        locked = TrainingJob.objects.select_for_update().get(pk=job.pk)
        previous = locked.status
        if previous in (JobStatus.CANCELLING, JobStatus.CANCELLED):
            return locked
        if previous in (JobStatus.FAILED, JobStatus.SUCCEEDED):
            raise TransitionNotAllowed(
                f"training job {locked.pk} has already {previous}; there is nothing to cancel"
            )
        to = JobStatus.CANCELLED if previous == JobStatus.QUEUED else JobStatus.CANCELLING
        audit_record(
            action="training_job.cancelled", obj=locked, audit=audit, detail={"from": previous, "to": to}
        )
        if to == JobStatus.CANCELLED:
            # Not started, or re-queued after its worker died: nothing runs it, so it ends here.
            job_finish_cancelled(job=locked, audit=audit, reason="cancelled while queued")
        else:
            # The runner sees this within a second and stops the trainer.
            TrainingJob.objects.filter(pk=locked.pk).update(status=to)
        locked.refresh_from_db()
    return locked


def jobs_sweep(*, now: datetime | None = None) -> list[int]:
    """Send again the jobs whose worker died or whose message was lost; returns their ids.

    RUNNING or CANCELLING with a heartbeat older than
    ``ONCOPORTAL_TRAINING_HEARTBEAT_TIMEOUT`` lost their worker (the runner
    beats every second): a running one goes back to QUEUED and is sent again
    (the runner that takes it resumes from the checkpoint; the dead one's
    runner, were it only slow, sees the change and stops its trainer); a
    cancelling one ends CANCELLED here. QUEUED and not sent for
    ``ONCOPORTAL_TRAINING_REQUEUE_AFTER``: the message may be lost, so it is
    sent again. ``heartbeat_at`` of a queued job records its last send, so a
    job waiting behind a long one gets one more message per period, not one
    per sweep; a duplicate costs nothing (the runner skips a job that is not
    queued).
    """
    now = now or timezone.now()
    stale = now - timedelta(seconds=settings.TRAINING_HEARTBEAT_TIMEOUT)
    unsent = now - timedelta(seconds=settings.TRAINING_REQUEUE_AFTER)
    lost = Q(status__in=[JobStatus.RUNNING, JobStatus.CANCELLING]) & (
        Q(heartbeat_at__lt=stale) | Q(heartbeat_at__isnull=True)
    )
    waiting = Q(status=JobStatus.QUEUED) & (
        Q(heartbeat_at__lt=unsent) | Q(heartbeat_at__isnull=True, created_at__lt=unsent)
    )
    audit = AuditContext.system(source=AuditSource.WORKER)
    sent = []
    with transaction.atomic():
        for job in TrainingJob.objects.select_for_update(skip_locked=True).filter(lost | waiting):
            previous = job.status
            if previous == JobStatus.CANCELLING:
                job_finish_cancelled(job=job, audit=audit, reason="its worker was lost while cancelling")
                continue
            TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED, heartbeat_at=now)
            if previous == JobStatus.RUNNING:
                logger.warning(
                    "training job %s lost its worker (no heartbeat since %s): queued again",
                    job.pk,
                    job.heartbeat_at,
                )
                audit_record(
                    action="training_job.requeued",
                    obj=job,
                    audit=audit,
                    detail={
                        "reason": "lost its worker",
                        "heartbeat_at": job.heartbeat_at.isoformat() if job.heartbeat_at else None,
                    },
                )
            job_send(job.pk)
            sent.append(job.pk)
    return sent


def job_finish_cancelled(*, job: TrainingJob, audit: AuditContext, reason: str) -> None:
    """End a cancelling job as CANCELLED: its bundle staging folders go first, no model is registered."""
    remove_staged_bundles(Path(job.run_dir))
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED, finished_at=timezone.now())
    audit_record(
        action="training_job.ended",
        obj=job,
        audit=audit,
        detail={"status": JobStatus.CANCELLED, "reason": reason},
    )


def remove_staged_bundles(run_dir: Path) -> None:
    """Delete the trainer's export folder and its half-written siblings (``bundle``, ``bundle.tmp-*``)."""
    if not run_dir.is_dir():
        return
    for path in run_dir.glob(f"{STAGED_BUNDLE}*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
