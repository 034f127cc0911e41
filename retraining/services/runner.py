"""The training worker's side of a job: claim it, run the trainer, report its progress, register the result.

:func:`job_run` (the Celery task ``run_training_job`` calls it) claims the job,
copies its snapshot into the run folder once, and starts
``python -m oncocore.training.train`` (under ``torchrun`` with several
processes) in its own process group. Once a second it copies the trainer's
progress file into the row and beats the heartbeat; a CANCELLING row stops the
trainer (SIGTERM to the group, SIGKILL after a grace period). The row is
written only while this run still owns it: ``attempts`` is the fence, so a
runner whose job the sweeper handed to another worker stops its trainer and
writes nothing more.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, OperationalError, transaction
from django.utils import timezone

from cases.models import AuditSource
from cases.services.audit import AuditContext, audit_record
from curation.services.export import snapshot_write_folder
from inference.services import model_version_register
from oncocore import registry
from retraining.models import JobMode, JobStatus, TrainingJob
from retraining.services.jobs import STAGED_BUNDLE, job_run_dir, remove_staged_bundles
from retraining.services.trainer import trainer_command

logger = logging.getLogger(__name__)

POLL_S = 1.0
HEARTBEAT_WHILE_COPYING_S = 5.0
PROGRESS_FILE = "progress.json"
CHECKPOINT_FILE = "checkpoint.pt"
DATA_DIR = "data"
ACTIVE = (JobStatus.RUNNING, JobStatus.CANCELLING)


class LostJob(Exception):
    """The sweeper gave this run's job to another worker (or it ended meanwhile): stop, write nothing."""


@dataclass(frozen=True)
class Claim:
    job: TrainingJob
    attempt: int
    resume: Path | None


def job_run(job_id: int) -> str:
    """Run one job to its end; returns what happened (succeeded, failed, cancelled, skipped, lost).

    Safe to deliver twice: a job that is not QUEUED is skipped.
    """
    claim = _claim(job_id)
    if claim is None:
        return "skipped"
    run_dir = Path(claim.job.run_dir)
    proc: subprocess.Popen[bytes] | None = None
    try:
        data_dir = _materialise(claim, run_dir)
        remove_staged_bundles(run_dir)  # a previous attempt's export, never registered
        (run_dir / PROGRESS_FILE).unlink(missing_ok=True)
        proc = _start_trainer(claim, run_dir, data_dir)
        status = _watch(claim, proc, run_dir)
        if status == JobStatus.CANCELLING:
            _stop(proc)
            return _end(claim, JobStatus.CANCELLED)
        if proc.returncode != 0:
            return _end(claim, JobStatus.FAILED, error=last_error_line(_stderr_path(run_dir, claim.attempt)))
        return _succeed(claim, run_dir)
    except LostJob:
        logger.warning("training job %s was taken over or ended elsewhere: this run stops", job_id)
        return "lost"
    except DatabaseError:
        # The row cannot be written: the job keeps its stale heartbeat and the sweeper resumes it.
        logger.exception("training job %s: database error, stopping the trainer", job_id)
        raise
    except Exception as exc:
        logger.exception("training job %s failed", job_id)
        _end(claim, JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if proc is not None:
            _stop(proc)


def _claim(job_id: int) -> Claim | None:
    with transaction.atomic():
        job = (
            # of=self: PostgreSQL locks no row of the outer join to a missing base version.
            TrainingJob.objects.select_for_update(of=("self",))
            .select_related("snapshot", "base_version")
            .get(pk=job_id)
        )
        if job.status != JobStatus.QUEUED:
            # Finished, or running under another worker (the sweeper re-queues it if that one dies).
            logger.info("training job %s is %s: nothing to run", job.pk, job.status)
            return None
        job.run_dir = job_run_dir(job.pk)
        checkpoint = Path(job.run_dir) / CHECKPOINT_FILE
        resume = checkpoint if checkpoint.is_file() else None
        job.status, job.phase, job.error = JobStatus.RUNNING, "preparing", ""
        job.attempts += 1
        job.worker = f"{socket.gethostname()}:{os.getpid()}"[:200]
        job.heartbeat_at = timezone.now()
        job.started_at = job.started_at or job.heartbeat_at
        if resume is not None:
            job.resumed_from_epoch = job.epoch  # the trainer's own figure replaces it once reported
        job.save()
        audit_record(
            action="training_job.running",
            obj=job,
            audit=AuditContext.system(source=AuditSource.WORKER),
            detail={"attempt": job.attempts, "worker": job.worker, "resume": str(resume) if resume else None},
        )
    return Claim(job=job, attempt=job.attempts, resume=resume)


def _beat(claim_job_id: int, attempt: int, **fields: Any) -> str:
    """Write progress and the heartbeat if this run still owns the job; returns its status."""
    owned = TrainingJob.objects.filter(pk=claim_job_id, attempts=attempt, status__in=ACTIVE)
    if not owned.update(heartbeat_at=timezone.now(), **fields):
        raise LostJob(claim_job_id)
    return str(TrainingJob.objects.filter(pk=claim_job_id).values_list("status", flat=True).get())


def _materialise(claim: Claim, run_dir: Path) -> Path:
    """The snapshot as a folder in the run dir, written once (a resumed run finds it complete and reuses it).

    The copy beats the heartbeat every few seconds: a large snapshot takes minutes.
    """
    last = time.monotonic()

    def beat(done: int, total: int) -> None:
        nonlocal last
        if time.monotonic() - last >= HEARTBEAT_WHILE_COPYING_S:
            _beat(claim.job.pk, claim.attempt)
            last = time.monotonic()

    return snapshot_write_folder(
        claim.job.snapshot,
        run_dir / DATA_DIR,
        progress=beat,
        audit=AuditContext.system(source=AuditSource.WORKER),
    )


def candidate_name(job: TrainingJob) -> tuple[str, str]:
    """The candidate bundle's model name and version: from the task, the snapshot and the job."""
    return f"{job.task}-retrained", f"s{job.snapshot.version}-job{job.pk}"


def _stderr_path(run_dir: Path, attempt: int) -> Path:
    return run_dir / f"trainer-{attempt}.err"


def _start_trainer(claim: Claim, run_dir: Path, data_dir: Path) -> subprocess.Popen[bytes]:
    job = claim.job
    name, version = candidate_name(job)
    cmd = trainer_command(
        data_dir=data_dir,
        run_dir=run_dir,
        recipe=job.recipe,
        progress_file=run_dir / PROGRESS_FILE,
        export_dir=run_dir / STAGED_BUNDLE,
        model_name=name,
        model_version=version,
        finetune_from=Path(job.base_version.bundle_path)
        if job.mode == JobMode.FINETUNE and job.base_version
        else None,
        resume=claim.resume,
    )
    logger.info("training job %s, attempt %s: %s", job.pk, claim.attempt, " ".join(cmd))
    with (
        (run_dir / f"trainer-{claim.attempt}.out").open("wb") as out,
        _stderr_path(run_dir, claim.attempt).open("wb") as err,
    ):
        return subprocess.Popen(  # our own interpreter and arguments
            cmd,
            cwd=settings.BASE_DIR,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=err,
            start_new_session=True,  # its own process group: cancel signals all of it, DDP ranks included
            preexec_fn=_die_with_parent,  # only prctl: no locks or threads touched
        )


def _die_with_parent() -> None:
    """Linux: the trainer gets SIGTERM when this worker process dies, so a killed worker leaves no trainer behind."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _watch(claim: Claim, proc: subprocess.Popen[bytes], run_dir: Path) -> str:
    """Copy progress into the row about once a second until the trainer exits or the job is cancelling.

    A beat the database refuses (SQLite busy, a PostgreSQL fail-over) is
    skipped; only when none got through for half the heartbeat timeout does the
    run give up (DatabaseError: the trainer stops, the sweeper resumes the job).
    """
    last_beat = time.monotonic()
    while True:
        exited = proc.poll() is not None
        try:
            status = _beat(
                claim.job.pk, claim.attempt, **progress_fields(read_progress(run_dir / PROGRESS_FILE))
            )
        except OperationalError:
            if time.monotonic() - last_beat > settings.TRAINING_HEARTBEAT_TIMEOUT / 2:
                raise
            logger.warning("training job %s: a heartbeat failed; trying again", claim.job.pk, exc_info=True)
            time.sleep(POLL_S)
            continue
        last_beat = time.monotonic()
        if status == JobStatus.CANCELLING or exited:
            return status
        time.sleep(POLL_S)


def read_progress(path: Path) -> dict[str, Any]:
    """The trainer's progress file (written atomically), or {} before it exists."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def progress_fields(progress: dict[str, Any]) -> dict[str, Any]:
    """TrainingJob fields from a progress file's JSON (what is missing or malformed is left out)."""
    fields: dict[str, Any] = {}
    for key in ("epoch", "epochs", "step", "steps"):
        if (value := _number(progress.get(key))) is not None:
            fields[key] = int(value)
    if isinstance(progress.get("phase"), str):
        fields["phase"] = progress["phase"][:16]
    if "train_loss" in progress:
        fields["train_loss"] = _number(progress["train_loss"])
    if "eta_s" in progress:
        fields["eta_seconds"] = _number(progress["eta_s"])
    if isinstance(progress.get("val"), dict):
        fields["val_metrics"] = progress["val"]
    if isinstance(progress.get("history"), list):
        fields["history"] = [r for r in progress["history"] if isinstance(r, dict)]
    if (resumed := _number(progress.get("resumed_from_epoch"))) is not None:
        fields["resumed_from_epoch"] = int(resumed)
    return fields


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the trainer's process group; SIGKILL it if the trainer has not exited after the grace period.

    Signals go only while the leader is alive (not yet reaped), so the group id
    is surely still the trainer's; torchrun waits for its ranks before it exits.
    """
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=settings.TRAINING_CANCEL_GRACE)
    except subprocess.TimeoutExpired:
        logger.warning(
            "trainer %s ignored SIGTERM for %s s: SIGKILL", proc.pid, settings.TRAINING_CANCEL_GRACE
        )
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def last_error_line(path: Path) -> str:
    """The trainer's last meaningful stderr line (torchrun's ===== rulers skipped)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "the trainer failed and left no error output"
    for line in reversed(lines):
        text = line.strip()
        if text and text.strip("=-_* ") and "Traceback (most recent call last)" not in text:
            return text[:2000]
    return "the trainer failed and left no error output"


def _end(claim: Claim, status: str, *, error: str = "") -> str:
    """Finish the job as CANCELLED or FAILED: staged bundles and the snapshot copy go, no model is registered."""
    run_dir = Path(claim.job.run_dir)
    remove_staged_bundles(run_dir)
    with transaction.atomic():
        owned = TrainingJob.objects.filter(pk=claim.job.pk, attempts=claim.attempt, status__in=ACTIVE)
        if not owned.update(status=status, error=error, finished_at=timezone.now(), eta_seconds=None):
            return "lost"
        audit_record(
            action="training_job.ended",
            obj=claim.job,
            audit=AuditContext.system(source=AuditSource.WORKER),
            detail={"status": status, "error": error} if error else {"status": status},
        )
    shutil.rmtree(run_dir / DATA_DIR, ignore_errors=True)
    return str(status)


def _succeed(claim: Claim, run_dir: Path) -> str:
    """Move the exported bundle among the candidates and register it, never active; files first."""
    job = claim.job
    staged = run_dir / STAGED_BUNDLE
    if not (staged / registry.CARD_FILE).is_file():
        return _end(claim, JobStatus.FAILED, error="the trainer exited without exporting a bundle")
    name, version = candidate_name(job)
    dest = Path(settings.TRAINING_CANDIDATES_DIR) / f"{name}-{version}"
    shutil.rmtree(dest, ignore_errors=True)  # an earlier attempt's move that never got registered
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(staged), str(dest))
    audit = AuditContext.system(source=AuditSource.WORKER)
    try:
        with transaction.atomic():
            locked = TrainingJob.objects.select_for_update().get(pk=job.pk)
            if locked.attempts != claim.attempt or locked.status != JobStatus.RUNNING:
                raise LostJob(job.pk)  # cancelled (or taken over) as the trainer finished
            result, _ = model_version_register(bundle_dir=dest, activate=False, audit=audit)
            TrainingJob.objects.filter(pk=job.pk).update(
                status=JobStatus.SUCCEEDED,
                phase="done",
                result_version=result,
                finished_at=timezone.now(),
                eta_seconds=0,
                heartbeat_at=timezone.now(),
            )
            audit_record(
                action="training_job.ended",
                obj=job,
                audit=audit,
                detail={"status": JobStatus.SUCCEEDED, "result_version": result.label},
            )
    except LostJob:
        shutil.rmtree(dest, ignore_errors=True)
        if TrainingJob.objects.filter(
            pk=job.pk, attempts=claim.attempt, status=JobStatus.CANCELLING
        ).exists():
            return _end(claim, JobStatus.CANCELLED)
        raise
    except Exception:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    shutil.rmtree(run_dir / DATA_DIR, ignore_errors=True)
    logger.info("training job %s registered %s (not active)", job.pk, result.label)
    return str(JobStatus.SUCCEEDED)
