"""Listeners for `cases` signals (shadow runs start when a case's clinical prediction is done)."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from cases.services.events import PREDICTION_COMPLETED
from cases.signals import case_event
from lifecycle.services.shadow import shadow_predictions_queue

logger = logging.getLogger(__name__)


@receiver(case_event, dispatch_uid="lifecycle.shadow_on_prediction_completed")
def queue_shadow_predictions(sender: Any, event: str, case_id: int, **kwargs: Any) -> None:
    """A case's clinical prediction is done (after its commit): queue its images for the running shadows.

    Never raises: the signal's other listeners (webhooks, examples) must still
    hear the event, and a shadow result missed here costs the readers nothing.
    """
    if event != PREDICTION_COMPLETED:
        return
    try:
        shadow_predictions_queue(case_id=case_id)
    except Exception:
        logger.exception("could not queue the shadow predictions of case %s", case_id)
