"""Celery tasks for results to the PACS: thin wrappers; queue and time limits come from oncoportal.celery_config."""

from __future__ import annotations

from celery import shared_task

from oncoportal import celery_config
from oncoportal.retry import MAX_COUNTDOWN_S
from results import delivery


@shared_task(acks_late=True, **celery_config.limits(celery_config.BUILD_AND_SEND_RESULTS))
def build_and_send(case_id: int, trigger: str) -> None:
    """Build the case's result objects for ``trigger`` ("prediction" or "review") and queue their deliveries.

    Safe to run twice: building is idempotent and a delivery exists once per object and destination.
    """
    delivery.results_build_and_queue(case_id=case_id, trigger=trigger)


@shared_task(acks_late=True, **celery_config.limits(celery_config.DELIVER_RESULTS))
def deliver_results(case_id: int, destination_id: int) -> None:
    """Send the case's due deliveries to one destination in one batch; queue the retry. Safe to run twice.

    A retry due within MAX_COUNTDOWN_S waits in the broker; a later one is
    queued by the sweeper when it falls due.
    """
    wait = delivery.batch_attempt(case_id=case_id, destination_id=destination_id)
    if wait is not None and wait <= MAX_COUNTDOWN_S:
        delivery.batch_queue(case_id=case_id, destination_id=destination_id, countdown=wait)


@shared_task(acks_late=True, **celery_config.limits(celery_config.SWEEP_RESULTS))
def sweep_results() -> int:
    """Periodic: re-queue overdue result deliveries, give up those of disabled destinations."""
    return delivery.deliveries_sweep()
