"""What a case's result objects are built from: its images' headers, newest predictions, overlays and reviews.

Reads only (rendering an overlay on first use caches it, as the viewer does).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pydicom
from django.conf import settings
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from pydicom.dataset import Dataset

from cases.models import Adjudication, Case, Image, ImageKind, Review, Role, User
from cases.services.case import images_in_study_order
from cases.services.review import case_readings
from inference.models import Prediction
from inference.scoring import prediction_overlay_name, read

CURATOR_ADJUDICATION = "Curator (adjudication)"
logger = logging.getLogger(__name__)


def case_dicom_images(*, case: Case) -> list[Image]:
    """The case's DICOM images in study order (``cases.services.case.images_in_study_order``: the rule's order)."""
    return images_in_study_order(case.images.filter(kind=ImageKind.DICOM).select_related("series"))


def source_header(image: Image) -> Dataset:
    """The stored (de-identified) header of an image, pixels left out."""
    with default_storage.open(image.file.name, "rb") as handle:
        # From bytes, not the open file: highdicom deep-copies its evidence, and a file handle does not copy.
        return pydicom.dcmread(io.BytesIO(handle.read()), stop_before_pixels=True)


def newest_predictions(*, case: Case, images: Sequence[Image]) -> list[Prediction]:
    """Each image's newest finished prediction by a model of the case's current task (images without one left out)."""
    rows = (
        Prediction.objects.filter(
            image__in=images, status=Prediction.Status.DONE, model_version__task=case.task
        )
        .select_related("model_version", "image")
        .order_by("image_id", "-pk")
    )
    newest: dict[int, Prediction] = {}
    for row in rows:
        newest.setdefault(row.image_id, row)
    return [newest[i.pk] for i in images if i.pk in newest]


def overlay_rgb(prediction: Prediction) -> np.ndarray | None:
    """The prediction's saliency overlay as RGB pixels (rendered and cached on first use); None without a map."""
    if not prediction.saliency_raw:
        return None
    try:
        data = read(prediction_overlay_name(prediction))
    except (FileNotFoundError, ValueError) as exc:  # a map gone or unreadable: the SR still lists the image
        logger.warning("results: prediction %s: no overlay (%s)", prediction.pk, exc)
        return None
    return np.asarray(PILImage.open(io.BytesIO(data)).convert("RGB"))


@dataclass(frozen=True)
class FinalLabel:
    """One image's final label and who decided it (the Curator when adjudicated, else the last reader)."""

    image: Image
    label: str
    ai_label: str
    ai_probabilities: dict[str, float]
    decided_by: User
    role: str
    decided_at: datetime
    readers: int
    adjudicated: bool
    review_ids: tuple[int, ...]
    adjudication_id: int | None


def final_labels(*, case: Case, images: Sequence[Image]) -> list[FinalLabel] | None:
    """Every image's final label, as the review and adjudication services define it; None until all are final."""
    readings = {r.image_id: r for r in case_readings(case=case)}
    decided = {a.image_id: a for a in Adjudication.objects.filter(case=case).select_related("curator")}
    out = []
    for image in images:
        reading = readings.get(image.pk)
        if reading is None or not reading.complete:
            return None
        adjudication = decided.get(image.pk)
        if reading.disagreement and adjudication is None:
            return None
        last: Review = reading.reviews[-1]
        if adjudication is not None:
            out.append(
                FinalLabel(
                    image=image,
                    label=adjudication.label,
                    ai_label=adjudication.ai_label,
                    ai_probabilities=dict(adjudication.ai_probabilities or {}),
                    decided_by=adjudication.curator,
                    role=CURATOR_ADJUDICATION,
                    decided_at=adjudication.decided_at,
                    readers=len(reading.reviews),
                    adjudicated=True,
                    review_ids=tuple(r.pk for r in reading.reviews),
                    adjudication_id=adjudication.pk,
                )
            )
            continue
        out.append(
            FinalLabel(
                image=image,
                label=last.label,
                ai_label=last.ai_label,
                ai_probabilities=dict(last.ai_probabilities or {}),
                decided_by=last.reviewer,
                role=role_of(last.reviewer),
                decided_at=last.submitted_at,
                readers=len(reading.reviews),
                adjudicated=False,
                review_ids=tuple(r.pk for r in reading.reviews),
                adjudication_id=None,
            )
        )
    return out


def role_of(user: User) -> str:
    """What the report says about a reader: their role, never their name."""
    for role in (Role.RADIOLOGIST, Role.REVIEWER, Role.CURATOR):
        if user.has_role(role):
            return str(role.value)
    return "Reader"


def person_name(user: User) -> str | None:
    """The reader's name as a DICOM PN, only when ONCOPORTAL_RESULTS_REVIEWER_NAMES is on."""
    if not settings.RESULTS_REVIEWER_NAMES:
        return None
    if user.last_name:
        return f"{user.last_name}^{user.first_name}".rstrip("^")
    return user.get_username()
