"""Celery tasks: thin wrappers; queues and time limits come from oncoportal.celery_config."""

from __future__ import annotations

from celery import shared_task

from oncoportal import celery_config
from retraining.services import runner
from retraining.services.jobs import jobs_sweep


@shared_task(
    # Acknowledged on receipt, not after: the job row, its heartbeat and the sweeper bring a
    # job back when its worker dies, and a day-long visibility timeout would hold up the rest.
    acks_late=False,
    **celery_config.limits(celery_config.RUN_TRAINING_JOB),
)
def run_training_job(job_id: int) -> str:
    """Run one retraining job to its end (hours). Safe to deliver twice: only a QUEUED job runs."""
    return runner.job_run(job_id)


@shared_task(acks_late=True, **celery_config.limits(celery_config.SWEEP_TRAINING_JOBS))
def sweep_training_jobs() -> int:
    """Periodic: queue again the jobs whose worker died or whose message was lost."""
    return len(jobs_sweep())
