"""The real client library (dicomweb-client, MIT) against a live server: STOW a real study, QIDO it back."""

from __future__ import annotations

import io

import pydicom
import pytest

from tests.dicomweb.conftest import CT, SC_STUDY

dicomweb_client = pytest.importorskip("dicomweb_client")


@pytest.mark.django_db(transaction=True)
def test_stow_then_qido_with_a_bearer_token(live_server, integration, make_token, dicom):
    from dicomweb_client.api import DICOMwebClient

    client = DICOMwebClient(
        url=f"{live_server.url}/dicomweb",
        headers={"Authorization": f"Bearer {make_token(integration, 'read,upload')}"},
        # One request with a Content-Length: the server refuses chunked bodies (411).
        chunk_size=64 * 1024 * 1024,
    )
    datasets = [pydicom.dcmread(io.BytesIO(dicom(name))) for name in SC_STUDY]
    study_uid = str(datasets[0].StudyInstanceUID)

    response = client.store_instances(datasets, study_instance_uid=study_uid)
    assert len(response.ReferencedSOPSequence) == len(SC_STUDY)
    assert "FailedSOPSequence" not in response
    assert response.RetrieveURL.endswith(f"/dicomweb/studies/{study_uid}")

    # A second STOW of another study to the first study's URL: the instance fails (409).
    with pytest.raises(Exception) as refused:
        client.store_instances([pydicom.dcmread(io.BytesIO(dicom(CT)))], study_instance_uid=study_uid)
    assert "409" in str(refused.value)

    studies = client.search_for_studies(search_filters={"StudyInstanceUID": study_uid})
    (found,) = [pydicom.Dataset.from_json(item) for item in studies]
    assert found.StudyInstanceUID == study_uid
    assert found.ModalitiesInStudy == "OT"
    assert found.PatientID != datasets[0].PatientID  # the pseudonym, never the original
    by_patient = client.search_for_studies(
        search_filters={"PatientID": found.PatientID, "StudyDate": "20170101-20171231"}
    )
    assert [item["0020000D"]["Value"][0] for item in by_patient] == [study_uid]
    assert client.search_for_studies(search_filters={"ModalitiesInStudy": "CT"}) == []

    series = client.search_for_series(study_uid)
    assert [item["0020000E"]["Value"][0] for item in series] == [str(datasets[0].SeriesInstanceUID)]
    instances = client.search_for_instances(study_uid, str(datasets[0].SeriesInstanceUID), limit=4)
    assert len(instances) == 4
    everything = client.search_for_instances(study_uid, get_remaining=True)
    assert {item["00080018"]["Value"][0] for item in everything} == {
        str(ds.SOPInstanceUID) for ds in datasets
    }
