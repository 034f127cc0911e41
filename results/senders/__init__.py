"""Sending DICOM objects to a PACS: one DIMSE association or one STOW-RS request per batch. No Django.

A batch is every pending object of one case for one destination, so a PACS
sees one association (or one multipart POST) per case rather than one per
object. Each object still gets its own :class:`ObjectResult`, which the
delivery log records:

* ``success`` / ``warning``: stored (a warning status, e.g. 0xB000 coercion of
  data elements, is noted but counts as stored);
* ``retry``: not stored for a reason that may pass (connection refused,
  association rejected or aborted, timeout, out of resources, HTTP 5xx);
* ``failed``: not stored and sending it again will not help (0xA900 data set
  does not match SOP class, 0xC000 cannot understand, HTTP 400...): given up at once.

The datasets handed in are already re-identified, in memory only; nothing here
writes them anywhere or logs their values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydicom.dataset import Dataset
from pynetdicom.status import STORAGE_SERVICE_CLASS_STATUS, code_to_category

__all__ = ["ObjectResult", "Outcome", "Outgoing", "dicom_status_result"]


class Outcome(StrEnum):
    SUCCESS = "success"
    WARNING = "warning"
    RETRY = "retry"
    FAILED = "failed"

    @property
    def stored(self) -> bool:
        return self in (Outcome.SUCCESS, Outcome.WARNING)


@dataclass(frozen=True)
class Outgoing:
    """One object to send; ``key`` is the caller's (the delivery id)."""

    key: int
    dataset: Dataset


@dataclass(frozen=True)
class ObjectResult:
    """How one object fared: the outcome, the DICOM or HTTP status as text, and why."""

    outcome: Outcome
    status: str
    detail: str


def status_text(code: int) -> str:
    return f"0x{code:04X}"


def status_meaning(code: int) -> str:
    """pynetdicom's name for a C-STORE status (e.g. 'Data Set Does Not Match SOP Class')."""
    known = STORAGE_SERVICE_CLASS_STATUS.get(code)
    return known[1] if known else "Unknown status"


def _transient(code: int) -> bool:
    # Out of resources (0xA7xx), a general processing failure (0x0110), resource limitation
    # (0x0213) and cancel (0xFE00) may pass; any other failure is about the object or its class.
    return 0xA700 <= code <= 0xA7FF or code in (0x0110, 0x0213, 0xFE00)


def dicom_status_result(code: int, *, comment: str = "") -> ObjectResult:
    """Classify a C-STORE status (also STOW-RS's Failure/Warning Reason codes, which are the same)."""
    category = code_to_category(code)
    meaning = status_meaning(code)
    detail = meaning + (f": {comment}" if comment else "")
    if code == 0x0000:
        return ObjectResult(Outcome.SUCCESS, status_text(code), "stored")
    if category == "Warning":
        return ObjectResult(Outcome.WARNING, status_text(code), f"stored with a warning: {detail}")
    if _transient(code):
        return ObjectResult(Outcome.RETRY, status_text(code), detail)
    return ObjectResult(Outcome.FAILED, status_text(code), detail)
