"""Listeners for `cases` signals: the intake's stored instances keep their study's identity, and a
finished prediction or review builds the case's result objects (and sends them where a destination
takes them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.dispatch import receiver

from cases.models import Study
from cases.services.events import CASE_ADJUDICATED, PREDICTION_COMPLETED, REVIEW_COMPLETED
from cases.signals import case_event, study_instance_stored
from results.services.identity import study_identity_keep
from results.tasks import build_and_send

TRIGGERS = {
    PREDICTION_COMPLETED: "prediction",
    REVIEW_COMPLETED: "review",
    CASE_ADJUDICATED: "review",
}


@receiver(study_instance_stored)
def keep_study_identity(sender: Any, study: Study, identity: Mapping[str, str], **kwargs: Any) -> list[str]:
    return study_identity_keep(study=study, identity=identity)


@receiver(case_event)
def results_for_case_event(sender: Any, event: str, case_id: int, **kwargs: Any) -> None:
    # Built even with no destination: WADO-RS serves the objects too. Sent only where a
    # destination takes them (results.delivery.deliveries_create). Heard after commit.
    trigger = TRIGGERS.get(event)
    if trigger is not None and settings.RESULTS_BUILD:
        build_and_send.delay(case_id, trigger)
