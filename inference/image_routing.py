"""Routing from the image itself: which task's model finds an image like its own training images.

When the uploader and the header rules leave a new study without a task, the
intake asks (``cases.signals.task_from_image``). Each task's active lead model
that carries an input suitability check (``oncocore.suitability``) scores the
image; the task whose check accepts it with the lowest scope ratio wins, and
none accepting it leaves the case Unassigned. Models without a check take no
part. The single-model predictors are loaded once per process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings

from inference.models import ModelVersion
from oncocore.predictor import Predictor
from oncocore.scoring import DECODE_ERRORS, model_input

logger = logging.getLogger(__name__)

_routers: dict[tuple[int, str, str], Predictor] = {}
_lock = threading.Lock()


def _leads() -> list[ModelVersion]:
    """Each task's active lead version (highest weight, then oldest), as ``active_ensemble`` orders them."""
    active = ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE)
    firsts = []
    for task in sorted(set(active.values_list("task", flat=True))):
        lead = active.filter(task=task).order_by("-weight", "pk").first()
        if lead is not None and not lead.untrained:  # its check is read from the bundle on disk
            firsts.append(lead)
    return firsts


def _router(version: ModelVersion) -> Predictor:
    key = (version.pk, version.weights_sha256, version.bundle_path)
    with _lock:
        predictor = _routers.get(key)
        if predictor is None:
            device = None if settings.INFERENCE_DEVICE == "auto" else settings.INFERENCE_DEVICE
            predictor = Predictor(version.bundle_path, device=device, batch_size=1, num_workers=1)
            _routers[key] = predictor
    return predictor


def scope_ratios(*, data: bytes, dicom: bool) -> dict[str, float]:
    """Each task's lead model's scope ratio for the image (at most 1: in its scope); tasks it cannot decode for are left out."""
    ratios: dict[str, float] = {}
    for version in _leads():
        try:
            predictor = _router(version)
        except (OSError, ValueError) as exc:  # a broken bundle routes nothing; the pipeline reports it
            logger.warning("image routing: %s unusable: %s", version, exc)
            continue
        if predictor.check is None:
            continue
        try:
            array = model_input(data, dicom=dicom, spec=predictor.members[0].card.preprocessing)
        except DECODE_ERRORS:
            continue
        ratios[version.task] = float(predictor.check.ratios(predictor.features([array]))[0])
    return ratios


def task_from_image(*, data: bytes, dicom: bool) -> str | None:
    """The task whose model finds the image most like its training images; None when no model accepts it."""
    ratios = scope_ratios(data=data, dicom=dicom)
    inside = {task: r for task, r in ratios.items() if r <= 1.0}
    if not inside:
        return None
    return min(inside, key=lambda task: (inside[task], task))


def route_receiver(sender: Any, data: bytes, dicom: bool, **kwargs: Any) -> str | None:
    """``cases.signals.task_from_image`` receiver."""
    return task_from_image(data=data, dicom=dicom)
