"""Celery tasks: thin wrappers with retries; queues and time limits come from oncoportal.celery_config."""

from __future__ import annotations

from collections.abc import Sequence

from celery import shared_task

from inference import pipeline, sweep
from inference.tryout import worker as tryout_worker
from oncoportal import celery_config
from oncoportal.db import DATABASE_UNAVAILABLE


@shared_task(
    acks_late=True,  # delivered again if the worker dies mid-run
    # A database error before the claim committed leaves the rows QUEUED: a retry takes them.
    autoretry_for=(pipeline.TransientError, *DATABASE_UNAVAILABLE),
    retry_backoff=10,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
    **celery_config.limits(celery_config.RUN_PREDICTIONS),
)
def run_predictions(prediction_ids: Sequence[int]) -> int:
    """Predict these rows (one case's images, batched). Safe to run twice."""
    return pipeline.predictions_run(prediction_ids=list(prediction_ids))


@shared_task(acks_late=True, **celery_config.limits(celery_config.SWEEP_STUCK_PREDICTIONS))
def sweep_stuck_predictions() -> int:
    """Periodic: re-send predictions stuck in queued or running under a dead worker, queue cases never queued."""
    return sweep.predictions_sweep()


@shared_task(
    acks_late=True,
    autoretry_for=(pipeline.TransientError,),
    retry_backoff=2,  # someone is watching the page: retry soon
    retry_backoff_max=30,
    max_retries=3,
    **celery_config.limits(celery_config.RUN_TRYOUT),
)
def run_tryout(tryout_id: str) -> bool:
    """Predict one try-out with its task's active model. Safe to run twice."""
    return tryout_worker.tryout_run(tryout_id=tryout_id)


@shared_task(acks_late=True, **celery_config.limits(celery_config.EXPIRE_TRYOUTS))
def expire_tryouts() -> int:
    """Periodic: re-send try-outs whose message was lost, delete those past their expiry (files first). Safe to run twice."""
    tryout_worker.tryouts_resend()
    return tryout_worker.tryouts_expire()
