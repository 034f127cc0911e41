"""The result objects through DICOMweb: listed by QIDO-RS with their study, retrieved by WADO-RS, site-scoped."""

from __future__ import annotations

import io

import pydicom
import pytest

from results.models import ResultKind
from results.services.build import results_build
from tests.dicomweb.test_wado import DICOM_ACCEPT, parts_of
from tests.results.conftest import scored_case, trained_bundle, trained_model  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

SERIES_UID, SOP_UID, MODALITY, DESCRIPTION = "0020000E", "00080018", "00080060", "0008103E"


def value(item: dict, tag: str):
    found = item.get(tag, {}).get("Value", [])
    return found[0] if len(found) == 1 else found


@pytest.fixture
def built(scored_case):  # noqa: F811 (the imported fixture)
    rows = results_build(case_id=scored_case.pk, trigger="prediction")
    return {
        "case": scored_case,
        "study": scored_case.study.study_instance_uid,
        "sr": next(r for r in rows if r.kind == ResultKind.AI_SR),
        "sc": [r for r in rows if r.kind == ResultKind.SALIENCY_SC],
    }


@pytest.fixture
def reader(token_client, radiologist):
    return token_client(radiologist, "read")


def test_qido_lists_result_series_and_instances_with_the_study(built, reader):
    study = built["study"]
    resp = reader.get(f"/dicomweb/studies/{study}/series", HTTP_ACCEPT="application/dicom+json")
    assert resp.status_code == 200, resp.content
    series = {value(item, SERIES_UID): item for item in resp.json()}
    sc, sr = built["sc"][0], built["sr"]
    assert len(series) == 3  # the MR series, the overlays, the AI SR
    assert value(series[sc.series_instance_uid], MODALITY) == "OT"
    assert value(series[sc.series_instance_uid], "00201209") == 7
    assert value(series[sr.series_instance_uid], MODALITY) == "SR"
    assert value(series[sr.series_instance_uid], DESCRIPTION).startswith("OncoPortal AI result")

    resp = reader.get(
        f"/dicomweb/studies/{study}/instances", {"Modality": "SR"}, HTTP_ACCEPT="application/dicom+json"
    )
    assert [value(item, SOP_UID) for item in resp.json()] == [sr.sop_instance_uid]
    url = value(resp.json()[0], "00081190")
    assert url.endswith(f"/studies/{study}/series/{sr.series_instance_uid}/instances/{sr.sop_instance_uid}")

    # Study-level keys match the result objects through their case's study.
    pseudonym = built["case"].study.patient.pseudonym
    resp = reader.get(
        "/dicomweb/series",
        {"PatientID": pseudonym, "ModalitiesInStudy": "MR", "Modality": "SR"},
        HTTP_ACCEPT="application/dicom+json",
    )
    assert [value(item, SERIES_UID) for item in resp.json()] == [sr.series_instance_uid]
    resp = reader.get("/dicomweb/series", {"PatientID": "nobody", "Modality": "SR"})
    assert resp.status_code == 204

    resp = reader.get("/dicomweb/studies", {"StudyInstanceUID": study}, HTTP_ACCEPT="application/dicom+json")
    (found,) = resp.json()
    assert value(found, "00080061") == ["MR", "OT", "SR"]
    assert value(found, "00201206") == 3 and value(found, "00201208") == 7 + 8

    # Paging walks through the images, then the result objects.
    seen = []
    for offset in range(0, 30, 4):
        page = reader.get(
            f"/dicomweb/studies/{study}/instances",
            {"limit": 4, "offset": offset},
            HTTP_ACCEPT="application/dicom+json",
        )
        if page.status_code == 204:
            break
        seen += [value(item, SOP_UID) for item in page.json()]
    assert len(seen) == len(set(seen)) == 15


def test_wado_retrieves_result_objects_as_stored(built, reader):
    sr = built["sr"]
    base = f"/dicomweb/studies/{built['study']}/series/{sr.series_instance_uid}"
    resp = reader.get(f"{base}/instances/{sr.sop_instance_uid}", HTTP_ACCEPT=DICOM_ACCEPT)
    assert resp.status_code == 200
    ((ctype, data),) = parts_of(resp)
    assert ctype == "application/dicom"
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"  # as stored: Explicit VR Little Endian
    assert ds.SOPInstanceUID == sr.sop_instance_uid and ds.Modality == "SR"
    assert ds.PatientID == built["case"].study.patient.pseudonym  # the WADO copy stays de-identified

    sc = built["sc"]
    resp = reader.get(
        f"/dicomweb/studies/{built['study']}/series/{sc[0].series_instance_uid}", HTTP_ACCEPT=DICOM_ACCEPT
    )
    got = {pydicom.dcmread(io.BytesIO(d)).SOPInstanceUID for _, d in parts_of(resp)}
    assert got == {r.sop_instance_uid for r in sc}

    resp = reader.get(f"/dicomweb/studies/{built['study']}", HTTP_ACCEPT=DICOM_ACCEPT)
    assert len(parts_of(resp)) == 7 + 8

    resp = reader.get(
        f"{base}/instances/{sr.sop_instance_uid}/metadata", HTTP_ACCEPT="application/dicom+json"
    )
    (meta,) = resp.json()
    assert value(meta, SOP_UID) == sr.sop_instance_uid and "0040A730" in meta  # the content tree


def test_another_sites_user_sees_no_result_object(built, token_client, other_radiologist):
    client = token_client(other_radiologist, "read")
    sr = built["sr"]
    url = (
        f"/dicomweb/studies/{built['study']}/series/{sr.series_instance_uid}/instances/{sr.sop_instance_uid}"
    )
    assert client.get(url, HTTP_ACCEPT=DICOM_ACCEPT).status_code == 404
    assert client.get(f"{url}/metadata", HTTP_ACCEPT="application/dicom+json").status_code == 404
    resp = client.get("/dicomweb/series", {"Modality": "SR"}, HTTP_ACCEPT="application/dicom+json")
    assert resp.status_code == 204
