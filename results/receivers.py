"""Listeners for `cases` signals: a finished prediction or review builds the case's result objects."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.dispatch import receiver

from cases.services.events import CASE_ADJUDICATED, PREDICTION_COMPLETED, REVIEW_COMPLETED
from cases.signals import case_event
from results.tasks import build_and_send

TRIGGERS = {
    PREDICTION_COMPLETED: "prediction",
    REVIEW_COMPLETED: "review",
    CASE_ADJUDICATED: "review",
}


@receiver(case_event)
def results_for_case_event(sender: Any, event: str, case_id: int, **kwargs: Any) -> None:
    # Built even with no destination: WADO-RS serves the objects too. Sent only where a
    # destination takes them (results.delivery.deliveries_create). Heard after commit.
    trigger = TRIGGERS.get(event)
    if trigger is not None and settings.RESULTS_BUILD:
        build_and_send.delay(case_id, trigger)
