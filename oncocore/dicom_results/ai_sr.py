"""The AI result as a Comprehensive SR: the study finding, every image's result, the model; not reviewed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from highdicom import UID
from highdicom.sr import (
    AlgorithmIdentification,
    ComprehensiveSR,
    ContentItem,
    DeviceObserverIdentifyingAttributes,
    ObserverContext,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as dcm

from oncocore.dicom_results import codes
from oncocore.dicom_results.common import (
    AI_SR_SERIES_DESCRIPTION,
    AI_SR_SERIES_NUMBER,
    MANUFACTURER,
    NOT_REVIEWED,
    ImageResult,
    ModelInfo,
    ResultInputError,
    SeriesSpec,
    add_equipment,
    one_study,
    pseudonymous_names,
)
from oncocore.dicom_results.content import (
    INFERRED,
    children,
    container,
    finding,
    image,
    num,
    text,
)
from oncocore.study_result import StudyFinding

__all__ = ["ai_sr"]


def ai_sr(
    *,
    study: StudyFinding,
    images: Sequence[ImageResult],
    model: ModelInfo,
    classes: Sequence[str] = (),
    series: SeriesSpec | None = None,
    content_datetime: datetime | None = None,
) -> Dataset:
    """The AI SR of a study (module docstring of :mod:`oncocore.dicom_results` for its content tree).

    Args:
        study: The study-level finding (``oncocore.study_result.study_finding``) of ``images``.
        images: Each image's result with its de-identified source header, in series/instance order.
        model: The model (the ensemble's lead) that scored them.
        classes: The task's classes, the order probabilities are listed in.
        series: The new series (default: a new UID, number 9902).
        content_datetime: When the result was made (default: now).

    Raises:
        ResultInputError: No images, several studies, or a finding whose key image is not among them.
    """
    one_study([i.source for i in images])
    by_id = {i.image_id: i for i in images}
    if study.key_image_id not in by_id:
        raise ResultInputError("the study finding's key image is not one of the images")
    rank = {image_id: n for n, image_id in enumerate(study.ranked_image_ids, start=1)}
    lead = by_id[study.key_image_id]
    observer = ObserverContext(
        observer_type=dcm.DCM.Device,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=model.device_uid,
            name=model.name,
            manufacturer_name=MANUFACTURER,
            model_name=f"{model.name} {model.version}",
        ),
    )
    algorithm = AlgorithmIdentification(name=model.name, version=model.version, manufacturer=MANUFACTURER)
    study_item = finding(
        study.label,
        study.probabilities,
        classes,
        study.uncertainty,
        extra=[image(codes.KEY_IMAGE, lead.source, lead.frame, rel=INFERRED)],
    )
    per_image = [_image_result(i, classes, rank.get(i.image_id)) for i in images]
    root = container(
        codes.REPORT,
        [
            *observer,
            *algorithm,
            text(codes.COMMENT, NOT_REVIEWED),
            study_item,
            *per_image,
        ],
        rel=None,
    )
    series = series or SeriesSpec(series_number=AI_SR_SERIES_NUMBER)
    evidence = [i.source for i in images] + [i.overlay for i in images if i.overlay is not None]
    with pseudonymous_names():
        ds = ComprehensiveSR(
            evidence=evidence,
            content=root,
            series_instance_uid=series.series_instance_uid,
            series_number=series.series_number or AI_SR_SERIES_NUMBER,
            sop_instance_uid=str(UID()),
            instance_number=1,
            manufacturer=MANUFACTURER,
            is_complete=True,
            is_final=True,
            is_verified=False,  # nobody has looked at it: UNVERIFIED, as the text says
        )
    finish(ds, AI_SR_SERIES_DESCRIPTION, content_datetime)
    return ds


def _image_result(result: ImageResult, classes: Sequence[str], rank: int | None) -> ContentItem:
    items = [image(codes.SOURCE_IMAGE, result.source, result.frame)]
    if result.overlay is not None:
        items.append(image(codes.SALIENCY, result.overlay))
    label = finding(result.label, result.probabilities, classes, result.uncertainty)
    if rank is not None:
        children(label, [num(codes.RANK, rank, codes.UNIT_NONE)])
    return container(codes.IMAGE_RESULT, [*items, label])


def finish(ds: Dataset, description: str, content_datetime: datetime | None) -> None:
    """The attributes every SR of the platform carries beyond what highdicom sets."""
    add_equipment(ds)
    ds.SeriesDescription = description
    if content_datetime is not None:
        if content_datetime.tzinfo is not None:  # local time, as highdicom writes the others
            content_datetime = content_datetime.astimezone().replace(tzinfo=None)
        ds.ContentDate = content_datetime.strftime("%Y%m%d")
        ds.ContentTime = content_datetime.strftime("%H%M%S")
