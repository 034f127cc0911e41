"""DICOM result objects built with highdicom, with no database: the AI's and the readers' results for a PACS.

Three builders, each from de-identified source headers (``stop_before_pixels``
is enough) and plain values; docs/results.md shows a dump of each.

:func:`saliency_sc`: one Secondary Capture per scored image, all in one new
series (number 9901, Modality OT) of the source study: the RGB saliency
overlay, BurnedInAnnotation YES (the map is drawn into the pixels), Image
Comments and Derivation Description "AI saliency overlay, not reviewed",
Referenced and Source Image Sequences to the original instance (and frame).

:func:`ai_sr`: a Comprehensive SR (series 9902), UNVERIFIED::

    CONTAINER Diagnostic imaging report (LN 18748-4)
      HAS OBS CONTEXT  Observer Type = Device; Device Observer UID, Name, Manufacturer,
                       Model Name "<name> <version>"                       (TID 1004)
      HAS CONCEPT MOD  Algorithm Name, Algorithm Version, Algorithm Manufacturer (TID 4019)
      CONTAINS TEXT    Comment (DCM 121106) = "AI result, not reviewed"
      CONTAINS CODE    Finding (DCM 121071) = the study finding (99ONCO class code)
        HAS PROPERTIES NUM Probability (DCM 122157), UCUM {probability}, one per class,
                           each with HAS CONCEPT MOD CODE Finding = the class
        HAS PROPERTIES NUM Normalised predictive entropy (99ONCO UNCERTAINTY), UCUM 1
        INFERRED FROM  IMAGE Best illustration of finding (DCM 121080) = the key image
      CONTAINS CONTAINER Image-level AI result (99ONCO IMGRESULT), one per image:
        CONTAINS IMAGE Source of Measurement (DCM 121112) = the original instance (frame)
        CONTAINS IMAGE Saliency (DCM 130404) = its Secondary Capture overlay, if built
        CONTAINS CODE  Finding = the image's label
          HAS PROPERTIES NUM probabilities and uncertainty as above,
                         NUM Suspicion rank in study (99ONCO RANK), UCUM 1

:func:`review_sr`: a Comprehensive SR (series 9903), VERIFIED only when
a verifying person's name may be shown::

    CONTAINER Diagnostic imaging report (LN 18748-4)
      HAS OBS CONTEXT  Person observer (TID 1003), only when names are configured
      CONTAINS TEXT    Comment = "Reviewed result: the final labels below were decided by people"
      CONTAINS CODE    Finding = the study's final label (99ONCO; NONDIAG for non-diagnostic)
        HAS PROPERTIES CODE Review decision (99ONCO DECISION) = CONFIRMED / CORRECTED /
                            LABELLED (no AI result) / NONDIAG, against the AI study finding
        HAS PROPERTIES CODE AI finding shown to the reader (99ONCO AIFINDING)
        INFERRED FROM  IMAGE Best illustration of finding = the key image
      CONTAINS COMPOSITE AI result report reviewed (99ONCO AIREPORT) = the AI SR
      CONTAINS CONTAINER Image-level review result (99ONCO IMGREVIEW), one per image:
        IMAGE Source of Measurement; CODE Finding (final); CODE Review decision;
        CODE AI finding; TEXT Role of the person who decided (99ONCO ROLE), e.g.
        "Radiologist", "Curator (adjudication)"; PNAME Person Observer Name (only when
        configured); DATETIME Date/time of the decision (99ONCO DECIDEDAT)

All objects: Manufacturer "OncoPortal", Software Versions the installed
package's version, the 99ONCO scheme in Coding Scheme Identification, patient
and study attributes copied from the (de-identified) sources; a sender puts the
identity back (``oncocore.imaging.identity.reidentify``).
"""

from oncocore.dicom_results.ai_sr import ai_sr
from oncocore.dicom_results.codes import SCHEME, label_code
from oncocore.dicom_results.common import (
    AI_SR_SERIES_DESCRIPTION,
    NOT_REVIEWED,
    OVERLAY_COMMENT,
    REVIEW_SR_SERIES_DESCRIPTION,
    SC_SERIES_DESCRIPTION,
    ImageResult,
    ImageReview,
    ModelInfo,
    ResultInputError,
    SeriesSpec,
)
from oncocore.dicom_results.review_sr import review_sr
from oncocore.dicom_results.sc import Overlay, saliency_sc

__all__ = [
    "AI_SR_SERIES_DESCRIPTION",
    "NOT_REVIEWED",
    "OVERLAY_COMMENT",
    "REVIEW_SR_SERIES_DESCRIPTION",
    "SCHEME",
    "SC_SERIES_DESCRIPTION",
    "ImageResult",
    "ImageReview",
    "ModelInfo",
    "Overlay",
    "ResultInputError",
    "SeriesSpec",
    "ai_sr",
    "label_code",
    "review_sr",
    "saliency_sc",
]
