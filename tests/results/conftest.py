"""Synthetic DICOM with a known identity, and destinations to keep it for."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.api.conftest import _fresh_throttle_counters, make_token, token_client  # noqa: F401  (API fixtures)
from tests.oncocore.imaging.conftest import build_dicom

IDENTITY = {
    "PatientName": "Zebulon^Quixotic",
    "PatientID": "MRN-7316429",
    "IssuerOfPatientID": "Hospital-Issuer-X",
    "PatientBirthDate": "19610304",
    "PatientSex": "F",
    "AccessionNumber": "ACCN-5520913",
    "StudyID": "SID-88",
    "StudyDate": "20240131",
    "StudyTime": "101530",
    "ReferringPhysicianName": "Referrer^Unusual",
    "StudyDescription": "Chest CT Quixotic",
}
# What must never be found in clear: the database, its file, the storage, the logs.
PHI = ["Zebulon", "Quixotic", "MRN-7316429", "ACCN-5520913", "19610304", "Referrer^Unusual"]


@pytest.fixture
def identified_dicom() -> Callable[..., bytes]:
    """identified_dicom(study_uid=None, **overrides) -> Part 10 bytes carrying IDENTITY (plus overrides)."""

    def make(study_uid: str | None = None, **overrides: str) -> bytes:
        def extra(ds: Dataset) -> None:
            for keyword, value in {**IDENTITY, **overrides}.items():
                setattr(ds, keyword, value)
            if study_uid:
                ds.StudyInstanceUID = study_uid

        return build_dicom(np.full((8, 8), 300, np.uint16), extra=extra)

    return make


@pytest.fixture
def new_study_uid() -> Callable[[], str]:
    return lambda: str(generate_uid())


@pytest.fixture
def make_destination(db) -> Callable[..., object]:
    from results.models import Destination

    def make(site=None, **fields):
        values = {
            "name": f"PACS {Destination.objects.count() + 1}",
            "ae_title": "PACS",
            "host": "pacs",
            "port": 104,
        }
        return Destination.objects.create(site=site, **{**values, **fields})

    return make
