"""Results fixtures: a real MR series ingested and scored by a trained-flagged random model; synthetic
DICOM with a known identity; result objects written to storage from real DICOM (an SC and an SR made
with highdicom), an identity kept for their study, destinations, and the real peers of
tests/results/peers.py."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from results.identity import encrypt_json
from results.models import Destination, ResultKind, ResultObject, StudyIdentity
from tests.api.conftest import _fresh_throttle_counters, make_token, token_client  # noqa: F401  (API fixtures)
from tests.conftest import require_service
from tests.oncocore.imaging.conftest import build_dicom
from tests.results.peers import DcmtkStoreSCP, StoreSCP, StowRecorder, dcmtk_available

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
def scored_case(mr_study, trained_model, mocker, django_capture_on_commit_callbacks):
    """The MR case with every image's prediction done by the trained-flagged model (run in this process)."""
    from inference.pipeline import predictions_run
    from inference.services import prediction_request

    mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        ids = [p.pk for p in prediction_request(case=mr_study)]
    assert predictions_run(prediction_ids=ids) == len(ids)
    mr_study.refresh_from_db()
    return mr_study


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


# What the hospital's PACS knows the patient and order by; never stored in clear.
ORIGINAL = {"PatientName": "Original^Patient", "PatientID": "MRN-123456", "AccessionNumber": "ACC-98765"}


def _store(case, kind: str, ds: pydicom.Dataset) -> ResultObject:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    name = default_storage.save(f"results/{case.pk}/{ds.SOPInstanceUID}.dcm", ContentFile(data))
    return ResultObject.objects.create(
        case=case,
        kind=kind,
        study_instance_uid=ds.StudyInstanceUID,
        series_instance_uid=ds.SeriesInstanceUID,
        sop_instance_uid=ds.SOPInstanceUID,
        sop_class_uid=ds.SOPClassUID,
        series_number=ds.SeriesNumber,
        instance_number=ds.InstanceNumber,
        file=name,
        sha256=hashlib.sha256(data).hexdigest(),
        file_size=len(data),
        source={"test": True},
    )


@pytest.fixture
def make_results(make_case, data_dir) -> Callable[..., tuple[object, list[ResultObject]]]:
    """make_results(site) -> (case, [SC, AI SR, review SR]): highdicom objects of a de-identified CT header."""

    def make(site, *, kinds=(ResultKind.SALIENCY_SC, ResultKind.AI_SR, ResultKind.REVIEW_SR)):
        case = make_case(site)
        source = pydicom.dcmread(data_dir / "dicom" / "pydicom" / "CT_small.dcm")
        source.StudyInstanceUID = case.study.study_instance_uid
        source.PatientName = case.study.patient.pseudonym + "^"
        source.PatientID = case.study.patient.pseudonym
        source.AccessionNumber = ""
        objects = []
        for number, kind in enumerate(kinds, start=1):
            if kind == ResultKind.SALIENCY_SC:
                ds = hd.sc.SCImage.from_ref_dataset(
                    ref_dataset=source,
                    pixel_array=np.full((16, 16, 3), 200, np.uint8),
                    photometric_interpretation="RGB",
                    bits_allocated=8,
                    coordinate_system="PATIENT",
                    patient_orientation=("L", "P"),
                    series_instance_uid=generate_uid(),
                    sop_instance_uid=generate_uid(),
                    series_number=900 + number,
                    instance_number=1,
                    manufacturer="OncoPortal",
                )
            else:
                root = hd.sr.ContainerContentItem(name=codes.DCM.ImagingMeasurementReport, template_id="1500")
                root.ContentSequence = [
                    hd.sr.TextContentItem(
                        name=codes.DCM.Comment, value="AI result, not reviewed", relationship_type="CONTAINS"
                    )
                ]
                ds = hd.sr.Comprehensive3DSR(
                    evidence=[source],
                    content=root,
                    series_instance_uid=generate_uid(),
                    series_number=900 + number,
                    sop_instance_uid=generate_uid(),
                    instance_number=1,
                    manufacturer="OncoPortal",
                )
            objects.append(_store(case, kind, ds))
        return case, objects

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


@pytest.fixture
def keep_identity() -> Callable[..., StudyIdentity]:
    def keep(case, identity: dict[str, str] | None = None) -> StudyIdentity:
        return StudyIdentity.objects.create(study=case.study, encrypted=encrypt_json(identity or ORIGINAL))

    return keep


@pytest.fixture
def scp(tmp_path) -> Iterator[Callable[..., StoreSCP]]:
    made: list[StoreSCP] = []

    def make(**kwargs) -> StoreSCP:
        made.append(StoreSCP(tmp_path / f"scp-{len(made)}", **kwargs))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


@pytest.fixture
def dcmtk_scp(tmp_path) -> Iterator[DcmtkStoreSCP]:
    require_service("dcmtk", dcmtk_available(), "apt-get install dcmtk")
    peer = DcmtkStoreSCP(tmp_path / "storescp")
    yield peer
    peer.close()


@pytest.fixture
def stow_peer() -> Iterator[Callable[..., StowRecorder]]:
    made: list[StowRecorder] = []

    def make(status: int = 200, body=None) -> StowRecorder:
        made.append(StowRecorder(status, body))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


def dimse_destination(peer, *, site=None, name: str = "Main PACS", **extra) -> Destination:
    return Destination.objects.create(
        name=name,
        site=site,
        kind=Destination.Kind.DIMSE,
        ae_title=peer.ae_title,
        host="127.0.0.1",
        port=peer.port,
        calling_ae_title="ONCOSEND",
        **extra,
    )


def stow_destination(
    url: str, *, site=None, name: str = "Web PACS", secret: str = "", **extra
) -> Destination:
    return Destination.objects.create(
        name=name,
        site=site,
        kind=Destination.Kind.STOW,
        url=url,
        secret_encrypted=encrypt_json({"secret": secret}) if secret else "",
        **extra,
    )


def stored_bytes(result: ResultObject) -> bytes:
    with default_storage.open(result.file.name, "rb") as handle:
        return handle.read()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())
