"""The coded concepts of the result objects: DCM, LOINC and UCUM where a code exists, else ``99ONCO``.

``99ONCO`` is OncoPortal's private coding scheme (a "99" designator, as
PS3.16 §8.2 reserves for local schemes). Its codes:

* one per class a model can output: the code value is the class name exactly
  as the model card lists it (``glioma``, ``malignant``...), the meaning is
  the same name made readable (``Glioma``); a value over 16 characters goes
  into Long Code Value, as PS3.3 asks;
* ``NONDIAG`` for a reader's "non-diagnostic" answer;
* the concept names below that no standard names (image result container,
  uncertainty, suspicion rank, review decision and its values, reviewer role,
  review time, the AI report reference).
"""

from __future__ import annotations

from importlib import metadata

from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

__all__ = [
    "AI_FINDING",
    "AI_REPORT",
    "CLASS_OF_PROBABILITY",
    "COMMENT",
    "CONFIRMED",
    "CORRECTED",
    "DEVICE",
    "FINDING",
    "IMAGE_RESULT",
    "IMAGE_REVIEW",
    "KEY_IMAGE",
    "LABELLED",
    "NON_DIAGNOSTIC",
    "PERSON",
    "PERSON_NAME",
    "PROBABILITY",
    "RANK",
    "REPORT",
    "REVIEWED_AT",
    "REVIEWER_ROLE",
    "REVIEW_DECISION",
    "SALIENCY",
    "SCHEME",
    "SOURCE_IMAGE",
    "UNCERTAINTY",
    "UNIT_NONE",
    "UNIT_PROBABILITY",
    "label_code",
    "software_version",
]

SCHEME = "99ONCO"
SCHEME_NAME = "OncoPortal local codes"


def _local(value: str, meaning: str) -> CodedConcept:
    return CodedConcept(value=value, scheme_designator=SCHEME, meaning=meaning)


def _std(code: object) -> CodedConcept:
    return CodedConcept.from_code(code)  # type: ignore[arg-type]


# Standard concepts.
REPORT = CodedConcept(value="18748-4", scheme_designator="LN", meaning="Diagnostic imaging report")
FINDING = _std(codes.DCM.Finding)  # 121071
PROBABILITY = _std(codes.DCM.Probability)  # 122157
COMMENT = _std(codes.DCM.Comment)  # 121106
SOURCE_IMAGE = _std(codes.DCM.SourceOfMeasurement)  # 121112
KEY_IMAGE = _std(codes.DCM.BestIllustrationOfFinding)  # 121080
SALIENCY = _std(codes.DCM.Saliency)  # 130404
DEVICE = _std(codes.DCM.Device)  # 121007
PERSON = _std(codes.DCM.Person)  # 121006
PERSON_NAME = _std(codes.DCM.PersonObserverName)  # 121008
UNIT_PROBABILITY = CodedConcept(value="{probability}", scheme_designator="UCUM", meaning="probability")
UNIT_NONE = CodedConcept(value="1", scheme_designator="UCUM", meaning="no units")

# Local concepts (99ONCO).
CLASS_OF_PROBABILITY = FINDING  # the class a probability is for: a HAS CONCEPT MOD of the NUM
IMAGE_RESULT = _local("IMGRESULT", "Image-level AI result")
IMAGE_REVIEW = _local("IMGREVIEW", "Image-level review result")
UNCERTAINTY = _local("UNCERTAINTY", "Normalised predictive entropy")
RANK = _local("RANK", "Suspicion rank in study")
AI_FINDING = _local("AIFINDING", "AI finding shown to the reader")
AI_REPORT = _local("AIREPORT", "AI result report reviewed")
REVIEW_DECISION = _local("DECISION", "Review decision")
CONFIRMED = _local("CONFIRMED", "AI label confirmed")
CORRECTED = _local("CORRECTED", "AI label corrected")
LABELLED = _local("LABELLED", "Labelled without an AI result")
NON_DIAGNOSTIC = _local("NONDIAG", "Non-diagnostic image")
REVIEWER_ROLE = _local("ROLE", "Role of the person who decided")
REVIEWED_AT = _local("DECIDEDAT", "Date/time of the decision")


def label_code(label: str) -> CodedConcept:
    """The 99ONCO code of a class (the class name as its value); ``""`` is the non-diagnostic code."""
    if not label:
        return NON_DIAGNOSTIC
    meaning = label.replace("_", " ").strip()
    return _local(label, (meaning[:1].upper() + meaning[1:])[:64])


def software_version() -> str:
    """The installed OncoPortal's version (pyproject), for Software Versions."""
    try:
        return metadata.version("oncoportal")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"
