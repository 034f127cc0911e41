"""Listeners for `cases` signals: a case whose labels became final refreshes its labelled examples."""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from cases.models import AuditSource, Case
from cases.services.audit import AuditContext
from cases.services.events import CASE_ADJUDICATED, REVIEW_COMPLETED
from cases.signals import case_event
from curation.services.examples import case_examples_refresh

logger = logging.getLogger(__name__)

FINAL_LABEL_EVENTS = frozenset({REVIEW_COMPLETED, CASE_ADJUDICATED})


@receiver(case_event)
def refresh_examples_on_final_labels(sender: Any, event: str, case_id: int, **kwargs: Any) -> None:
    """Reviewed or adjudicated: the case's examples follow its readings (after the commit that made them final).

    Never raises: the signal's other listeners (webhooks) must still hear the
    event, and ``sync_examples`` repairs a refresh that failed here.
    """
    if event not in FINAL_LABEL_EVENTS:
        return
    case = Case.objects.filter(pk=case_id).first()
    if case is None:
        return
    try:
        case_examples_refresh(case=case, audit=AuditContext.system(source=AuditSource.WORKER))
    except Exception:
        logger.exception("could not refresh the labelled examples of case %s", case_id)
