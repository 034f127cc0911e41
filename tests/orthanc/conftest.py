"""Orthanc fixtures: one private Orthanc per session, emptied for each test, and a study with PHI in it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pydicom
import pytest

from tests.conftest import require_service
from tests.dimse.conftest import MR_SERIES, spool_root, start_listener  # noqa: F401  (fixtures)
from tests.peers.orthanc import Orthanc, dicomweb_plugin, orthanc_binary, orthanc_start, orthanc_stop

# What the hospital's PACS holds and the platform must never store: distinctive values written
# onto a real series before Orthanc gets it, so a byte search of our storage is meaningful.
PHI = {
    "PatientName": "Orthancson^Olga^Quentin",
    "PatientID": "OPID-447192",
    "PatientBirthDate": "19610412",
    "AccessionNumber": "ACC5521ORTH",
    "ReferringPhysicianName": "Referrer^Rita",
    "InstitutionName": "Orthanc General Hospital",
    "OtherPatientIDs": "OTHER-83311",
    "PatientAddress": "12 Peer Street, Loopback",
}


@dataclass(frozen=True)
class PeerStudy:
    """A study as Orthanc holds it: its Orthanc id, UIDs, and the PHI values Orthanc reports."""

    orthanc_id: str
    study_uid: str
    sop_uids: frozenset[str]
    phi: dict[str, str]


@pytest.fixture(scope="session")
def orthanc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    binary, plugin = orthanc_binary(), dicomweb_plugin()
    require_service("Orthanc", binary is not None, "apt-get install orthanc")
    require_service("Orthanc DICOMweb plugin", plugin is not None, "apt-get install orthanc-dicomweb")
    assert binary is not None and plugin is not None
    peer, proc = orthanc_start(tmp_path_factory.mktemp("orthanc"), binary=binary, plugin=plugin)
    try:
        yield peer
    finally:
        orthanc_stop(proc)


@pytest.fixture
def orthanc(orthanc_server: Orthanc) -> Iterator[Orthanc]:
    """The session's Orthanc, empty at the start and end of the test."""
    orthanc_server.clear()
    yield orthanc_server
    orthanc_server.clear()


def with_phi(path: Path) -> bytes:
    """The file with the PHI values above in its header (pixels, UIDs and syntax unchanged)."""
    ds = pydicom.dcmread(path)
    for keyword, value in PHI.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


@pytest.fixture
def peer_study(orthanc: Orthanc, data_dir: Path) -> PeerStudy:
    """The real 7-instance MR series, with PHI, uploaded into Orthanc (REST POST /instances)."""
    files = sorted((data_dir / MR_SERIES).iterdir())
    orthanc_id = orthanc.upload([with_phi(path) for path in files])
    instances = orthanc.get(f"/studies/{orthanc_id}/instances")
    assert len(instances) == len(files) == 7
    held = [orthanc.tags(item["ID"]) for item in instances]
    phi = {keyword: str(held[0][keyword]) for keyword in PHI}
    assert phi == PHI and all({k: str(t[k]) for k in PHI} == phi for t in held)
    return PeerStudy(
        orthanc_id=orthanc_id,
        study_uid=str(held[0]["StudyInstanceUID"]),
        sop_uids=frozenset(str(t["SOPInstanceUID"]) for t in held),
        phi=phi,
    )


def pseudonym_of(case: Any) -> str:
    """The pseudonym a case's patient is stored under."""
    patient = case.study.patient
    assert patient is not None
    return str(patient.pseudonym)


def phi_needles(phi: dict[str, str]) -> set[bytes]:
    """Each value, and each part of a name or address long enough to mean something."""
    needles = set()
    for value in phi.values():
        needles.add(value.encode())
        for part in value.replace("^", " ").replace(",", " ").split():
            if len(part) >= 5:
                needles.add(part.encode())
    return needles


def assert_no_phi_stored(folder: Path, phi: dict[str, str]) -> int:
    """No file under ``folder`` (stored instances, display PNGs, thumbnails) holds any PHI value; returns the file count."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    needles = phi_needles(phi)
    for path in files:
        data = path.read_bytes()
        found = sorted(n.decode() for n in needles if n in data)
        assert not found, f"{path.relative_to(folder)} holds {found}"
    return len(files)


@pytest.fixture
def upload_token(db, integration) -> str:
    """A Bearer token of the Integration user (the site's), allowed to read and upload."""
    from api.services.tokens import token_create

    return token_create(
        user=integration, name="orthanc", scopes="read,upload", expires_in=timedelta(days=1)
    ).value
