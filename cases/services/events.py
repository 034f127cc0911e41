"""Case events (predicted, failed, reviewed, adjudicated): the one way every app announces them.

The services and the inference pipeline call :func:`case_event_send` at the
moment a case moves; listeners (the api app's webhooks) hear it only once the
transaction has committed, so a rolled-back change announces nothing and a
slow listener never holds the request or task that made the change.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from cases.models import Case
from cases.signals import case_event

PREDICTION_COMPLETED = "prediction.completed"
CASE_FAILED = "case.failed"
REVIEW_COMPLETED = "review.completed"
CASE_ADJUDICATED = "case.adjudicated"
CASE_EVENTS = (PREDICTION_COMPLETED, CASE_FAILED, REVIEW_COMPLETED, CASE_ADJUDICATED)


def case_event_send(*, event: str, case_id: int, detail: dict[str, Any] | None = None) -> None:
    """Send ``case_event`` for this case after the current transaction commits (at once outside one).

    ``detail`` must be JSON-ready: it goes into the webhook payload as it is.
    """
    if event not in CASE_EVENTS:
        raise ValueError(f"unknown case event {event!r}; one of {', '.join(CASE_EVENTS)}")
    body = dict(detail or {})
    transaction.on_commit(
        lambda: case_event.send(sender=Case, event=event, case_id=case_id, detail=body),
        # A listener's failure (a database hiccup writing deliveries) must not undo the committed change.
        robust=True,
    )
