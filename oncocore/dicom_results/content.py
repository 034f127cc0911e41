"""Small constructors for SR content items, so the builders read like their content trees."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from highdicom.sr import (
    CodeContentItem,
    CodedConcept,
    CompositeContentItem,
    ContainerContentItem,
    ContentItem,
    ContentSequence,
    DateTimeContentItem,
    ImageContentItem,
    NumContentItem,
    PnameContentItem,
    TextContentItem,
)
from pydicom.dataset import Dataset

from oncocore.dicom_results import codes
from oncocore.dicom_results.common import frame_numbers

CONTAINS = "CONTAINS"
PROPERTIES = "HAS PROPERTIES"
CONCEPT_MOD = "HAS CONCEPT MOD"
INFERRED = "INFERRED FROM"


def children(item: ContentItem, items: Sequence[ContentItem]) -> ContentItem:
    """Attach ``items`` under ``item`` (returns ``item``)."""
    if items:
        item.ContentSequence = ContentSequence([*item.get("ContentSequence", []), *items])
    return item


def container(name: CodedConcept, items: Sequence[ContentItem], rel: str | None = CONTAINS) -> ContentItem:
    return children(ContainerContentItem(name=name, relationship_type=rel), items)


def code(name: CodedConcept, value: CodedConcept, rel: str = CONTAINS) -> ContentItem:
    return CodeContentItem(name=name, value=value, relationship_type=rel)


def text(name: CodedConcept, value: str, rel: str = CONTAINS) -> ContentItem:
    return TextContentItem(name=name, value=value, relationship_type=rel)


def num(name: CodedConcept, value: float, unit: CodedConcept, rel: str = PROPERTIES) -> ContentItem:
    return NumContentItem(name=name, value=float(value), unit=unit, relationship_type=rel)


def pname(name: CodedConcept, value: str, rel: str = CONTAINS) -> ContentItem:
    return PnameContentItem(name=name, value=value, relationship_type=rel)


def when(name: CodedConcept, value: datetime, rel: str = CONTAINS) -> ContentItem:
    """A DATETIME item in the host's local time, as highdicom writes the creation times.

    An aware time is converted and written without an offset: dcmtk refuses a
    DT content item with one.
    """
    if value.tzinfo is not None:
        value = value.astimezone().replace(tzinfo=None)
    return DateTimeContentItem(name=name, value=value.replace(microsecond=0), relationship_type=rel)


def image(name: CodedConcept, source: Dataset, frame: int = 0, rel: str = CONTAINS) -> ContentItem:
    return ImageContentItem(
        name=name,
        referenced_sop_class_uid=source.SOPClassUID,
        referenced_sop_instance_uid=source.SOPInstanceUID,
        referenced_frame_numbers=frame_numbers(source, frame),
        relationship_type=rel,
    )


def composite(name: CodedConcept, ds: Dataset, rel: str = CONTAINS) -> ContentItem:
    return CompositeContentItem(
        name=name,
        referenced_sop_class_uid=ds.SOPClassUID,
        referenced_sop_instance_uid=ds.SOPInstanceUID,
        relationship_type=rel,
    )


def probabilities(values: Mapping[str, float], order: Sequence[str]) -> list[ContentItem]:
    """One NUM (Probability, {probability}) per class, each with the class as a HAS CONCEPT MOD.

    In ``order`` (the task's class order), then any other class by name: a
    database may hand the probabilities back in an order of its own.
    """
    rank = {name: i for i, name in enumerate(order)}
    items = []
    for name in sorted(values, key=lambda n: (rank.get(n, len(rank)), n)):
        item = num(codes.PROBABILITY, values[name], codes.UNIT_PROBABILITY)
        items.append(children(item, [code(codes.CLASS_OF_PROBABILITY, codes.label_code(name), CONCEPT_MOD)]))
    return items


def finding(
    label: str,
    values: Mapping[str, float],
    order: Sequence[str],
    uncertainty: float | None,
    extra: Sequence[ContentItem] = (),
) -> ContentItem:
    """CODE Finding = the label, with its probabilities and uncertainty as properties."""
    items = probabilities(values, order)
    if uncertainty is not None:
        items.append(num(codes.UNCERTAINTY, uncertainty, codes.UNIT_NONE))
    return children(code(codes.FINDING, codes.label_code(label)), [*items, *extra])
