"""What the builders share: their inputs, the equipment attributes, references and UIDs."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from highdicom import UID
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from oncocore.dicom_results import codes

MANUFACTURER = "OncoPortal"
NOT_REVIEWED = "AI result, not reviewed"
OVERLAY_COMMENT = "AI saliency overlay, not reviewed"

# Series numbers of the platform's objects: high, so a PACS lists them after the acquired series.
SC_SERIES_NUMBER = 9901
AI_SR_SERIES_NUMBER = 9902
REVIEW_SR_SERIES_NUMBER = 9903
SC_SERIES_DESCRIPTION = "OncoPortal AI result: saliency overlays (not reviewed)"
AI_SR_SERIES_DESCRIPTION = "OncoPortal AI result (not reviewed)"
REVIEW_SR_SERIES_DESCRIPTION = "OncoPortal review result"


class ResultInputError(ValueError):
    """The builder's input cannot make a valid object (no images, a source from another study...)."""


@dataclass(frozen=True)
class ModelInfo:
    """The model (or ensemble lead) that produced the result."""

    name: str
    version: str
    task: str = ""

    @property
    def device_uid(self) -> str:
        """A stable UID for this model version as a device observer (the same for every report it makes)."""
        return str(generate_uid(entropy_srcs=["oncoportal-model", self.name, self.version]))


@dataclass(frozen=True)
class ImageResult:
    """One image's AI result, with its source header (de-identified, pixels not needed)."""

    image_id: int
    source: Dataset
    label: str
    probabilities: Mapping[str, float]
    uncertainty: float | None = None
    frame: int = 0  # 0-based frame the model ran on
    overlay: Dataset | None = None  # the Secondary Capture of its saliency, when built with it


@dataclass(frozen=True)
class ImageReview:
    """One image's final label after review or adjudication, and who decided it when."""

    image_id: int
    source: Dataset
    label: str  # "" for non-diagnostic
    ai_label: str  # what the AI said to the reader; "" when there was no AI result
    role: str  # "Radiologist", "Curator (adjudication)"...
    decided_at: datetime
    name: str | None = None  # only when the site allows names in results
    readers: int = 1
    adjudicated: bool = False

    @property
    def decision(self) -> str:
        """'confirmed', 'corrected', 'labelled' (no AI result) or 'non-diagnostic'."""
        if not self.label:
            return "non-diagnostic"
        if not self.ai_label:
            return "labelled"
        return "confirmed" if self.label == self.ai_label else "corrected"


DECISION_CODES = {
    "confirmed": codes.CONFIRMED,
    "corrected": codes.CORRECTED,
    "labelled": codes.LABELLED,
    "non-diagnostic": codes.NON_DIAGNOSTIC,
}


@dataclass(frozen=True)
class SeriesSpec:
    """Where a built object goes: its series (new unless given) and numbers."""

    series_instance_uid: str = field(default_factory=lambda: str(UID()))
    series_number: int = 0


def frame_numbers(source: Dataset, frame: int) -> list[int] | None:
    """The 1-based Referenced Frame Number for a multi-frame source; None for a single frame."""
    frames = int(source.get("NumberOfFrames", 1) or 1)
    return [frame + 1] if frames > 1 else None


def one_study(sources: Sequence[Dataset]) -> str:
    """The single StudyInstanceUID of ``sources``; ResultInputError if none or several."""
    if not sources:
        raise ResultInputError("no source images: a result object needs the instances it is about")
    studies = {str(ds.StudyInstanceUID) for ds in sources}
    if len(studies) != 1:
        raise ResultInputError(f"the sources belong to {len(studies)} studies; a result covers one")
    return studies.pop()


def image_reference(source: Dataset, frame: int = 0) -> Dataset:
    """A Referenced/Source Image Sequence item for ``source``."""
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    numbers = frame_numbers(source, frame)
    if numbers:
        item.ReferencedFrameNumber = numbers
    return item


@contextmanager
def pseudonymous_names() -> Iterator[None]:
    """Silence highdicom's warning about one-component person names: a pseudonym is one on purpose."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*unlikely to represent the intended person name", category=UserWarning
        )
        yield


def add_equipment(ds: Dataset) -> None:
    """Manufacturer, software version and the 99ONCO scheme's identification on a built object."""
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "OncoPortal"
    ds.SoftwareVersions = codes.software_version()
    scheme = Dataset()
    scheme.CodingSchemeDesignator = codes.SCHEME
    scheme.CodingSchemeName = codes.SCHEME_NAME
    scheme.CodingSchemeResponsibleOrganization = MANUFACTURER
    ds.CodingSchemeIdentificationSequence = [scheme]
