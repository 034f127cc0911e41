"""The review result as a Comprehensive SR: the final labels, confirmed or corrected, by which role, when."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from highdicom import UID
from highdicom.sr import ComprehensiveSR, ContentItem, ObserverContext, PersonObserverIdentifyingAttributes
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as dcm

from oncocore.dicom_results import codes
from oncocore.dicom_results.ai_sr import finish
from oncocore.dicom_results.common import (
    DECISION_CODES,
    MANUFACTURER,
    REVIEW_SR_SERIES_DESCRIPTION,
    REVIEW_SR_SERIES_NUMBER,
    ImageReview,
    ResultInputError,
    SeriesSpec,
    one_study,
    pseudonymous_names,
)
from oncocore.dicom_results.content import (
    INFERRED,
    PROPERTIES,
    children,
    code,
    composite,
    container,
    image,
    pname,
    text,
    when,
)

__all__ = ["REVIEWED", "review_sr"]

REVIEWED = "Reviewed result: the final labels below were decided by people"


def review_sr(
    *,
    images: Sequence[ImageReview],
    study_label: str,
    key_image_id: int,
    ai_study_label: str = "",
    ai_report: Dataset | None = None,
    verifying_observer: tuple[str, str] | None = None,
    series: SeriesSpec | None = None,
    content_datetime: datetime | None = None,
) -> Dataset:
    """The review SR of a study (module docstring of :mod:`oncocore.dicom_results` for its content tree).

    Args:
        images: Each image's final label with its de-identified source header, in series/instance order.
        study_label: The study's final label (the study rule over the final labels; "" non-diagnostic).
        key_image_id: The image that label comes from.
        ai_study_label: The AI's study finding, to say whether the study label confirms or corrects it.
        ai_report: The AI SR that was reviewed; referenced (and listed as evidence) when given.
        verifying_observer: (name, organisation) of the person who verified the report, only where names
            may be shown; the report is then VERIFIED, else UNVERIFIED (the roles are still in it).
        series: The new series (default: a new UID, number 9903).
        content_datetime: When the review was finished (default: now).

    Raises:
        ResultInputError: No images, several studies, or a key image not among them.
    """
    one_study([i.source for i in images])
    by_id = {i.image_id: i for i in images}
    if key_image_id not in by_id:
        raise ResultInputError("the key image is not one of the reviewed images")
    lead = by_id[key_image_id]
    study_decision = ImageReview(
        image_id=key_image_id,
        source=lead.source,
        label=study_label,
        ai_label=ai_study_label,
        role=lead.role,
        decided_at=lead.decided_at,
    ).decision
    study_item = children(
        code(codes.FINDING, codes.label_code(study_label)),
        [
            code(codes.REVIEW_DECISION, DECISION_CODES[study_decision], PROPERTIES),
            *(
                [code(codes.AI_FINDING, codes.label_code(ai_study_label), PROPERTIES)]
                if ai_study_label
                else []
            ),
            image(codes.KEY_IMAGE, lead.source, rel=INFERRED),
        ],
    )
    items = [text(codes.COMMENT, REVIEWED), study_item]
    if ai_report is not None:
        items.append(composite(codes.AI_REPORT, ai_report))
    items += [_image_review(i) for i in images]
    observer: list[ContentItem] = []
    if verifying_observer is not None:
        person = ObserverContext(
            observer_type=dcm.DCM.Person,
            observer_identifying_attributes=PersonObserverIdentifyingAttributes(
                name=verifying_observer[0], organization_name=verifying_observer[1]
            ),
        )
        observer = [*person]
    root = container(codes.REPORT, [*observer, *items], rel=None)
    series = series or SeriesSpec(series_number=REVIEW_SR_SERIES_NUMBER)
    evidence = [i.source for i in images] + ([ai_report] if ai_report is not None else [])
    with pseudonymous_names():
        ds = ComprehensiveSR(
            evidence=evidence,
            content=root,
            series_instance_uid=series.series_instance_uid,
            series_number=series.series_number or REVIEW_SR_SERIES_NUMBER,
            sop_instance_uid=str(UID()),
            instance_number=1,
            manufacturer=MANUFACTURER,
            is_complete=True,
            is_final=True,
            is_verified=verifying_observer is not None,
            verifying_observer_name=verifying_observer[0] if verifying_observer else None,
            verifying_organization=verifying_observer[1] if verifying_observer else None,
        )
    finish(ds, REVIEW_SR_SERIES_DESCRIPTION, content_datetime)
    return ds


def _image_review(review: ImageReview) -> ContentItem:
    items = [
        image(codes.SOURCE_IMAGE, review.source),
        code(codes.FINDING, codes.label_code(review.label)),
        code(codes.REVIEW_DECISION, DECISION_CODES[review.decision]),
    ]
    if review.ai_label:
        items.append(code(codes.AI_FINDING, codes.label_code(review.ai_label)))
    items.append(text(codes.REVIEWER_ROLE, review.role))
    if review.name:
        items.append(pname(codes.PERSON_NAME, review.name))
    items.append(when(codes.REVIEWED_AT, review.decided_at))
    return container(codes.IMAGE_REVIEW, items)
