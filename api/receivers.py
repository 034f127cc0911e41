"""Listeners for `cases` signals: a case event becomes webhook deliveries."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from api.services.webhooks import webhook_emit
from cases.signals import case_event


@receiver(case_event)
def deliveries_for_case_event(
    sender: Any, event: str, case_id: int, detail: dict[str, Any], **kwargs: Any
) -> None:
    webhook_emit(event=event, case_id=case_id, detail=detail)
