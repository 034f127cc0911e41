"""Results fixtures: a real MR series ingested and scored by a trained-flagged random model; synthetic
DICOM with a known identity, and destinations to keep it for."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.api.conftest import _fresh_throttle_counters, make_token, token_client  # noqa: F401  (API fixtures)
from tests.oncocore.imaging.conftest import build_dicom

MR_SERIES = "dicom/pydicom/dicomdirtests/98892003/MR700"
BRAIN = ["glioma", "meningioma", "notumor", "pituitary"]


@pytest.fixture(scope="session")
def trained_bundle(tmp_path_factory):
    """A small random-weight brain bundle whose card says trained (stands for a shipped model)."""
    from oncocore import registry

    folder = tmp_path_factory.mktemp("bundles") / "brain-results"
    registry.make_random_bundle(folder, task="brain_mri", class_names=BRAIN, input_size=64)
    card = json.loads((folder / "model.json").read_text())
    card.update(untrained=False, name="brain-results", version="3.1.4")
    (folder / "model.json").write_text(json.dumps(card))
    return folder


@pytest.fixture
def trained_model(db, trained_bundle):
    from inference.services import model_version_activate, model_version_register

    version, _ = model_version_register(bundle_dir=trained_bundle)
    model_version_activate(version=version)
    return version


@pytest.fixture
def mr_case(data_dir, site, radiologist):
    """The MR series ingested as one brain MRI case (before any model is active: nothing queued)."""
    from cases.models import Case, Task
    from cases.services.intake import intake_sources

    paths = sorted((data_dir / MR_SERIES).iterdir())
    report = intake_sources(
        uploads=[(p.name, p.read_bytes()) for p in paths],
        site=site,
        user=radiologist,
        source="web",
        task=Task.BRAIN_MRI,
    )
    assert len(report.accepted) == len(paths), report
    (case_id,) = set(report.case_ids)
    return Case.objects.get(pk=case_id)


@pytest.fixture
def scored_case(mr_case, trained_model, mocker, django_capture_on_commit_callbacks):
    """The MR case with every image's prediction done by the trained-flagged model (run in this process)."""
    from inference.pipeline import predictions_run
    from inference.services import prediction_request

    mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        ids = [p.pk for p in prediction_request(case=mr_case)]
    assert predictions_run(prediction_ids=ids) == len(ids)
    mr_case.refresh_from_db()
    return mr_case


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
