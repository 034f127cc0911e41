"""Celery tasks for webhooks: thin wrappers; queue and time limits come from oncoportal.celery_config."""

from __future__ import annotations

from celery import shared_task

from api import delivery
from oncoportal import celery_config
from oncoportal.retry import MAX_COUNTDOWN_S


@shared_task(acks_late=True, **celery_config.limits(celery_config.DELIVER_WEBHOOK))
def deliver_webhook(delivery_id: int) -> None:
    """Attempt one webhook delivery if it is due; queue its retry after a failure. Safe to run twice.

    A retry due within MAX_COUNTDOWN_S waits in the broker; a later one is
    sent by the sweeper when it falls due (see oncoportal.retry).
    """
    wait = delivery.delivery_attempt(delivery_id=delivery_id)
    if wait is not None and wait <= MAX_COUNTDOWN_S:
        delivery.delivery_send(delivery_id=delivery_id, countdown=wait)


@shared_task(acks_late=True, **celery_config.limits(celery_config.SWEEP_WEBHOOKS))
def sweep_webhooks() -> int:
    """Periodic: re-send webhook deliveries that are overdue, disable subscriptions failing too long."""
    return delivery.deliveries_sweep()
