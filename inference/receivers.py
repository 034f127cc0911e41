"""Listeners for `cases` signals: new images and task changes queue predictions."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from cases.models import Case
from cases.signals import case_task_changed, images_ingested, task_from_image
from inference.case_status import case_refresh_ai_summary
from inference.image_routing import route_receiver
from inference.services import prediction_request


@receiver(images_ingested)
def queue_predictions_for_new_images(sender: Any, case_ids: list[int], **kwargs: Any) -> None:
    for case in Case.objects.filter(pk__in=case_ids):
        prediction_request(case=case)


# The intake asks which task an image looks like when its header says nothing.
task_from_image.connect(route_receiver, dispatch_uid="inference.image_routing")


@receiver(case_task_changed)
def queue_predictions_for_new_task(sender: Any, case_id: int, **kwargs: Any) -> None:
    case = Case.objects.filter(pk=case_id).first()
    if case is not None:
        case_refresh_ai_summary(case_id=case_id)  # the old task's label no longer applies
        prediction_request(case=case)
