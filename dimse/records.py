"""The listener's records: its configuration, a closed study, an intake outcome, an association's summary."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

from pydicom import dcmread

from dimse.access import AccessPolicy
from dimse.scan import scan_study_uid
from dimse.spool import valid_uid


@dataclass(frozen=True)
class ListenerConfig:
    ae_title: str
    port: int  # 0: any free port (tests)
    access: AccessPolicy
    quiet_seconds: float
    spool_root: Path
    host: str = "0.0.0.0"
    spool_fsync: bool = False  # force each spooled file to disk before answering (dimse.spool)


@dataclass(frozen=True)
class StudyBatch:
    """The spooled instances of one study, closed by ``rule``, for the site ``site`` ('' = default)."""

    study_uid: str
    files: tuple[Path, ...]
    rule: str
    site: str = ""


@dataclass(frozen=True)
class IngestOutcome:
    accepted: int
    duplicates: int
    rejected: int
    case_ids: tuple[int, ...]


@dataclass
class AssociationSummary:
    """One association as the audit trail records it; ``ended`` is 'refused' for a rejected one."""

    key: str
    calling_ae: str
    host: str
    port: int
    site: str = ""  # the site code its ONCOPORTAL_DICOM_ALLOWED entry names; '' = default
    ended: str = ""
    instances: int = 0
    failures: int = 0
    studies: set[str] = field(default_factory=set)
    studies_closed: list[str] = field(default_factory=list)


@dataclass
class _PendingStudy:
    files: list[Path] = field(default_factory=list)
    open_associations: set[str] = field(default_factory=set)
    last_instance_at: float = 0.0


Ingest = Callable[[StudyBatch], IngestOutcome]
OnAssociation = Callable[[AssociationSummary], None]


def study_uid_of(encoded: bytes) -> str | None:
    """The Study Instance UID of an encoded dataset (file meta included), reading only up to it.

    The quick walk of ``dimse.scan`` first; pydicom for whatever it cannot tell.
    """
    found = scan_study_uid(encoded)
    if found is not None:
        return found if valid_uid(found) else None
    try:
        ds = dcmread(BytesIO(encoded), stop_before_pixels=True, specific_tags=["StudyInstanceUID"])
        value = str(ds.get("StudyInstanceUID", "") or "").strip()
    except Exception:
        return None
    return value if valid_uid(value) else None
