"""The saliency overlays as one Secondary Capture series (RGB, burned-in: the map is drawn on the image)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from highdicom import UID
from highdicom.sc import SCImage
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from oncocore.dicom_results.common import (
    MANUFACTURER,
    OVERLAY_COMMENT,
    SC_SERIES_DESCRIPTION,
    SC_SERIES_NUMBER,
    ResultInputError,
    SeriesSpec,
    add_equipment,
    image_reference,
    one_study,
    pseudonymous_names,
)

__all__ = ["Overlay", "saliency_sc"]

# The source's direction cosines give PatientOrientation; +x is the patient's left, +y posterior, +z head.
_AXES = (("L", "R"), ("P", "A"), ("H", "F"))


@dataclass(frozen=True)
class Overlay:
    """One image's rendered overlay: RGB ``(H, W, 3)`` uint8, and the instance (and frame) it was drawn on."""

    source: Dataset
    rgb: np.ndarray
    frame: int = 0


def saliency_sc(*, overlays: Sequence[Overlay], series: SeriesSpec | None = None) -> list[Dataset]:
    """One Secondary Capture per overlay, all in one new series of the sources' study.

    Patient and study attributes are copied from each (de-identified) source;
    Referenced and Source Image Sequences point at the original instance.

    Raises:
        ResultInputError: No overlays, sources of several studies, or a pixel array that is not RGB uint8.
    """
    one_study([o.source for o in overlays])
    series = series or SeriesSpec(series_number=SC_SERIES_NUMBER)
    built: list[Dataset] = []
    for number, overlay in enumerate(overlays, start=1):
        rgb = np.ascontiguousarray(overlay.rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ResultInputError(f"an overlay must be RGB uint8 (H, W, 3), not {rgb.dtype} {rgb.shape}")
        orientation = patient_orientation(overlay.source)
        with pseudonymous_names():
            ds = SCImage.from_ref_dataset(
                ref_dataset=overlay.source,
                pixel_array=rgb,
                photometric_interpretation="RGB",
                bits_allocated=8,
                coordinate_system="PATIENT",
                series_instance_uid=series.series_instance_uid,
                series_number=series.series_number or SC_SERIES_NUMBER,
                sop_instance_uid=str(UID()),
                instance_number=number,
                manufacturer=MANUFACTURER,
                transfer_syntax_uid=ExplicitVRLittleEndian,
                # highdicom takes single letters only; the real value (or none) is set below.
                patient_orientation=("L", "P"),
            )
        # Type 2C: empty when the source does not say, rather than guessed.
        ds.PatientOrientation = list(orientation) if orientation else None  # type: ignore[assignment]
        _describe(ds, overlay)
        built.append(ds)
    return built


def _describe(ds: Dataset, overlay: Overlay) -> None:
    source = overlay.source
    add_equipment(ds)
    ds.Modality = "OT"
    ds.SeriesDescription = SC_SERIES_DESCRIPTION
    ds.ImageComments = OVERLAY_COMMENT
    ds.DerivationDescription = OVERLAY_COMMENT
    ds.BurnedInAnnotation = "YES"
    ds.ReferencedImageSequence = [image_reference(source, overlay.frame)]
    ds.SourceImageSequence = [image_reference(source, overlay.frame)]
    for keyword in ("BodyPartExamined", "Laterality", "StudyDescription", "PatientAge"):
        if keyword in source and keyword not in ds:
            setattr(ds, keyword, source.get(keyword))


def patient_orientation(source: Dataset) -> tuple[str, str] | None:
    """The source's PatientOrientation, or one derived from its Image Orientation (Patient); None if unknown."""
    given = source.get("PatientOrientation")
    if given is not None and len(given) == 2 and all(str(v) for v in given):
        return str(given[0]), str(given[1])
    cosines = source.get("ImageOrientationPatient")
    if cosines is None or len(cosines) != 6:
        return None
    row = [float(v) for v in cosines[:3]]
    col = [float(v) for v in cosines[3:]]
    return _direction(row), _direction(col)


def _direction(vector: list[float]) -> str:
    """Letters of a direction, the main axis first (PS3.3 C.7.6.1.1.1), axes under 0.25 left out."""
    ranked = sorted(range(3), key=lambda i: -abs(vector[i]))
    letters = [_AXES[i][0 if vector[i] > 0 else 1] for i in ranked if abs(vector[i]) >= 0.25]
    return "".join(letters) or _AXES[ranked[0]][0]
