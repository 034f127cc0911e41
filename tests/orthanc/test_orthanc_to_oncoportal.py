"""Orthanc sends a real study to the listener (C-STORE) and to STOW-RS; Orthanc's DICOMweb client reads it back.

Every instance that arrives is checked in storage for the PHI values Orthanc holds.
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from django.core.files.storage import default_storage

from cases.models import Case, Image, IntakeBatch
from tests.dimse.conftest import wait_until
from tests.orthanc.conftest import PeerStudy, assert_no_phi_stored, pseudonym_of
from tests.peers.orthanc import PEER_NAME, Orthanc, OrthancError

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def spooled(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_ingested_deidentified(study: PeerStudy, media_dir: Path, *, source: str) -> None:
    """One case with every instance; each stored file is de-identified (header read, bytes searched)."""
    case = Case.objects.get()
    images = list(Image.objects.filter(case=case))
    assert {i.sop_instance_uid for i in images} == study.sop_uids
    assert case.study.study_instance_uid == study.study_uid
    assert IntakeBatch.objects.get().source == source
    pseudonym = pseudonym_of(case)
    assert pseudonym and pseudonym != study.phi["PatientID"]
    for image in images:
        with default_storage.open(image.file.name) as fh:
            ds = pydicom.dcmread(fh)
        assert ds.PatientID == pseudonym
        assert str(ds.PatientName) != study.phi["PatientName"]
        assert ds.SOPInstanceUID == image.sop_instance_uid and ds.StudyInstanceUID == study.study_uid
    assert assert_no_phi_stored(media_dir, study.phi) >= len(images)


def test_orthanc_c_store_to_the_listener_ingests_the_study_de_identified(
    orthanc: Orthanc, peer_study: PeerStudy, start_listener, spool_root, media_dir
) -> None:
    listener = start_listener()
    orthanc.point_modality(ae_title="ONCOTEST", port=listener.port)
    answer = orthanc.post(f"/modalities/{PEER_NAME}/store", peer_study.orthanc_id)
    assert answer["InstancesCount"] == 7 and answer["FailedInstancesCount"] == 0, answer
    wait_until(lambda: Image.objects.count() == 7 and listener.idle(), "the study from Orthanc")

    assert_ingested_deidentified(peer_study, media_dir, source="dimse")
    assert spooled(spool_root) == []
    # Orthanc sends it again: nothing is stored twice.
    orthanc.post(f"/modalities/{PEER_NAME}/store", peer_study.orthanc_id)
    wait_until(lambda: IntakeBatch.objects.count() == 2 and listener.idle(), "the second send")
    assert Image.objects.count() == 7
    assert IntakeBatch.objects.order_by("-created_at")[0].duplicate_count == 7
    assert spooled(spool_root) == []


def test_orthanc_c_store_of_a_sop_class_we_do_not_read_fails_and_stores_nothing(
    orthanc: Orthanc, data_dir: Path, start_listener, spool_root, media_dir
) -> None:
    listener = start_listener()
    orthanc.point_modality(ae_title="ONCOTEST", port=listener.port)
    rt_plan = orthanc.post("/instances", (data_dir / "dicom" / "pydicom" / "rtplan.dcm").read_bytes())
    with pytest.raises(OrthancError) as refused:
        orthanc.post(f"/modalities/{PEER_NAME}/store", rt_plan["ID"])
    assert refused.value.status >= 400
    wait_until(listener.idle, "the association to end")
    assert Image.objects.count() == 0 and IntakeBatch.objects.count() == 0
    assert spooled(spool_root) == [] and spooled(media_dir) == []


def test_orthanc_stow_to_the_platform_ingests_the_study_de_identified(
    orthanc: Orthanc, peer_study: PeerStudy, live_server, upload_token, media_dir
) -> None:
    orthanc.point_dicomweb(url=f"{live_server.url}/dicomweb/", token=upload_token)
    orthanc.post(f"/dicom-web/servers/{PEER_NAME}/stow", {"Resources": [peer_study.orthanc_id]})
    assert_ingested_deidentified(peer_study, media_dir, source="dicomweb")


def test_orthanc_instances_stowed_by_dicomweb_client_are_de_identified(
    orthanc: Orthanc, peer_study: PeerStudy, live_server, upload_token, media_dir
) -> None:
    """The STOW path's de-identification while Orthanc's own STOW fails: its files, sent by dicomweb-client."""
    from dicomweb_client.api import DICOMwebClient

    instances = orthanc.get(f"/studies/{peer_study.orthanc_id}/instances")
    datasets = [pydicom.dcmread(io.BytesIO(orthanc.instance_file(item["ID"]))) for item in instances]
    client = DICOMwebClient(
        url=f"{live_server.url}/dicomweb",
        headers={"Authorization": f"Bearer {upload_token}"},
        chunk_size=64 * 1024 * 1024,  # one request with a Content-Length
    )
    response = client.store_instances(datasets, study_instance_uid=peer_study.study_uid)
    assert len(response.ReferencedSOPSequence) == 7 and "FailedSOPSequence" not in response
    assert_ingested_deidentified(peer_study, media_dir, source="dicomweb")


def test_orthanc_stow_of_a_sop_class_we_do_not_read_is_refused(
    orthanc: Orthanc, data_dir: Path, live_server, upload_token, media_dir
) -> None:
    orthanc.point_dicomweb(url=f"{live_server.url}/dicomweb/", token=upload_token)
    rt_plan = orthanc.post("/instances", (data_dir / "dicom" / "pydicom" / "rtplan.dcm").read_bytes())
    with pytest.raises(OrthancError):  # our 409 (every instance failed) is an error to Orthanc
        orthanc.post(f"/dicom-web/servers/{PEER_NAME}/stow", {"Resources": [rt_plan["ID"]]})
    batch = IntakeBatch.objects.get()
    assert (batch.source, batch.accepted_count, batch.rejected_count) == ("dicomweb", 0, 1)
    assert "no pixel data" in batch.report["rejected"][0]["reason"]
    assert Image.objects.count() == 0 and spooled(media_dir) == []


def test_orthanc_dicomweb_client_queries_and_retrieves_the_de_identified_copy(
    orthanc: Orthanc, peer_study: PeerStudy, start_listener, live_server, upload_token
) -> None:
    listener = start_listener()
    orthanc.point_modality(ae_title="ONCOTEST", port=listener.port)
    orthanc.post(f"/modalities/{PEER_NAME}/store", peer_study.orthanc_id)
    wait_until(lambda: Image.objects.count() == 7 and listener.idle(), "the study from Orthanc")
    orthanc.point_dicomweb(url=f"{live_server.url}/dicomweb/", token=upload_token)
    pseudonym = pseudonym_of(Case.objects.get())

    # QIDO-RS through Orthanc's client (it answers in its own JSON: scalar values with names).
    studies = orthanc.post(
        f"/dicom-web/servers/{PEER_NAME}/qido",
        {"Uri": "/studies", "Arguments": {"StudyInstanceUID": peer_study.study_uid}},
    )
    assert len(studies) == 1
    found = {item["Name"]: item.get("Value", "") for item in studies[0].values()}
    assert found["StudyInstanceUID"] == peer_study.study_uid
    assert found["PatientID"] == pseudonym and found["PatientName"] == pseudonym
    assert found["AccessionNumber"] == "" and found["ModalitiesInStudy"] == "MR"
    assert found["RetrieveURL"] == f"{live_server.url}/dicomweb/studies/{peer_study.study_uid}"

    # WADO-RS: Orthanc forgets its own copy, then retrieves ours.
    orthanc.clear()
    orthanc.post(f"/dicom-web/servers/{PEER_NAME}/retrieve", {"Resources": [{"Study": peer_study.study_uid}]})
    (retrieved,) = orthanc.find_instances({"StudyInstanceUID": peer_study.study_uid}, level="Study")
    instances = orthanc.get(f"/studies/{retrieved['ID']}/instances")
    assert {item["MainDicomTags"]["SOPInstanceUID"] for item in instances} == peer_study.sop_uids
    for item in instances:
        ds = pydicom.dcmread(io.BytesIO(orthanc.instance_file(item["ID"])))
        assert ds.PatientID == pseudonym
        assert ds.PatientIdentityRemoved == "YES"
        for keyword, value in peer_study.phi.items():
            assert str(ds.get(keyword, "")) != value, keyword
