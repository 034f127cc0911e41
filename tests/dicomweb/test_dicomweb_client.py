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


@pytest.mark.django_db(transaction=True)
def test_wado_retrieve_with_dicomweb_client(live_server, integration, make_token, dicom):
    """WADO-RS parsed by the real client: instance, series metadata, frames and rendered."""
    from dicomweb_client.api import DICOMwebClient
    from PIL import Image as PILImage

    client = DICOMwebClient(
        url=f"{live_server.url}/dicomweb",
        headers={"Authorization": f"Bearer {make_token(integration, 'read,upload')}"},
        chunk_size=64 * 1024 * 1024,
    )
    multiframe = pydicom.dcmread(io.BytesIO(dicom("pydicom-data/emri_small.dcm")))
    sc = [pydicom.dcmread(io.BytesIO(dicom(name))) for name in SC_STUDY]
    client.store_instances([multiframe])
    client.store_instances(sc)
    st, se, sop = (
        str(multiframe.StudyInstanceUID),
        str(multiframe.SeriesInstanceUID),
        str(multiframe.SOPInstanceUID),
    )

    instance = client.retrieve_instance(st, se, sop)
    assert instance.SOPInstanceUID == sop
    assert instance.PatientID != multiframe.PatientID or not multiframe.PatientID
    assert (instance.pixel_array == multiframe.pixel_array).all()

    metadata = client.retrieve_series_metadata(str(sc[0].StudyInstanceUID), str(sc[0].SeriesInstanceUID))
    assert {item["00080018"]["Value"][0] for item in metadata} == {str(ds.SOPInstanceUID) for ds in sc}
    assert all("BulkDataURI" in item["7FE00010"] for item in metadata)

    frames = client.retrieve_instance_frames(st, se, sop, frame_numbers=[2, 5])
    assert frames == [
        multiframe.pixel_array[1].astype("<u2").tobytes(),
        multiframe.pixel_array[4].astype("<u2").tobytes(),
    ]

    jpeg = client.retrieve_instance_rendered(st, se, sop, media_types=("image/jpeg",))
    assert PILImage.open(io.BytesIO(jpeg)).format == "JPEG"
    png = client.retrieve_instance_rendered(st, se, sop, media_types=("image/png",))
    assert PILImage.open(io.BytesIO(png)).size == (multiframe.Columns, multiframe.Rows)
