"""QIDO-RS: matching on each key, ranges, includefield, paging, scoping and a constant query count."""

from __future__ import annotations

import io

import pydicom
import pytest

from tests.dicomweb.conftest import CT, MR, SC_STUDY

pytestmark = pytest.mark.django_db

STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"
PATIENT_ID, STUDY_DATE, MODALITIES = "00100020", "00080020", "00080061"


def value(item: dict, tag: str):
    found = item.get(tag, {}).get("Value", [])
    return found[0] if len(found) == 1 else found


@pytest.fixture
def stored(stow, dicom):
    """Three real studies stored by STOW-RS: an OT study of six instances, a CT and an MR instance."""
    assert stow([dicom(name) for name in SC_STUDY] + [dicom(CT), dicom(MR)]).status_code == 200
    headers = {
        name: pydicom.dcmread(io.BytesIO(dicom(name)), stop_before_pixels=True)
        for name in (SC_STUDY[0], CT, MR)
    }
    return {
        "sc": headers[SC_STUDY[0]],
        "ct": headers[CT],
        "mr": headers[MR],
    }


@pytest.fixture
def reader(token_client, integration):
    return token_client(integration, "read")


def get(client, path: str, **params):
    return client.get(path, params, HTTP_ACCEPT="application/dicom+json")


def uids(resp, tag: str = STUDY_UID) -> set[str]:
    assert resp.status_code == 200, resp.content
    return {value(item, tag) for item in resp.json()}


def test_all_studies_with_the_required_attributes(stored, reader):
    from cases.models import Study

    resp = get(reader, "/dicomweb/studies")
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("application/dicom+json")
    body = resp.json()
    assert len(body) == 3
    sc = next(item for item in body if value(item, STUDY_UID) == stored["sc"].StudyInstanceUID)
    study = Study.objects.get(study_instance_uid=stored["sc"].StudyInstanceUID)
    assert value(sc, PATIENT_ID) == study.patient.pseudonym != stored["sc"].PatientID
    assert sc["00100010"] == {"vr": "PN", "Value": [{"Alphabetic": study.patient.pseudonym}]}
    assert value(sc, STUDY_DATE) == stored["sc"].StudyDate
    assert value(sc, MODALITIES) == "OT"
    assert value(sc, "00201206") == 1 and value(sc, "00201208") == 6
    assert sc["00080050"] == {"vr": "SH"}  # Accession Number: not kept, returned empty
    assert value(sc, "00081190") == f"http://testserver/dicomweb/studies/{study.study_instance_uid}"
    assert value(sc, "00080056") == "ONLINE"
    assert list(sc) == sorted(sc)


def test_match_patient_id_and_name(stored, reader):
    from cases.models import Study

    pseudonym = Study.objects.get(study_instance_uid=stored["ct"].StudyInstanceUID).patient.pseudonym
    assert uids(get(reader, "/dicomweb/studies", PatientID=pseudonym)) == {stored["ct"].StudyInstanceUID}
    assert uids(get(reader, "/dicomweb/studies", **{"00100020": pseudonym})) == {
        stored["ct"].StudyInstanceUID
    }
    assert uids(get(reader, "/dicomweb/studies", PatientName=pseudonym[:6].lower() + "*")) >= {
        stored["ct"].StudyInstanceUID
    }
    # The original patient ID is never stored, so it matches nothing.
    assert get(reader, "/dicomweb/studies", PatientID=str(stored["ct"].PatientID)).status_code == 204


def test_match_study_date_single_and_ranges(stored, reader):
    ct_date = stored["ct"].StudyDate  # 20040119
    sc_date = stored["sc"].StudyDate  # 20170101
    assert uids(get(reader, "/dicomweb/studies", StudyDate=ct_date)) == {stored["ct"].StudyInstanceUID}
    assert uids(get(reader, "/dicomweb/studies", StudyDate="20100101-20201231")) == {
        stored["sc"].StudyInstanceUID
    }
    assert stored["sc"].StudyInstanceUID in uids(get(reader, "/dicomweb/studies", StudyDate=f"{sc_date}-"))
    assert stored["sc"].StudyInstanceUID not in uids(
        get(reader, "/dicomweb/studies", StudyDate=f"-{ct_date}")
    )
    assert get(reader, "/dicomweb/studies", StudyDate="2004").status_code == 400
    assert get(reader, "/dicomweb/studies", StudyDate="20041340").status_code == 400


def test_match_modalities_in_study_and_uid_lists(stored, reader):
    ct, mr, sc = (stored[k].StudyInstanceUID for k in ("ct", "mr", "sc"))
    assert uids(get(reader, "/dicomweb/studies", ModalitiesInStudy="CT")) == {ct}
    assert uids(get(reader, "/dicomweb/studies", ModalitiesInStudy="MR,OT")) == {mr, sc}
    assert uids(get(reader, "/dicomweb/studies", StudyInstanceUID=f"{ct},{mr}")) == {ct, mr}
    both = reader.get(f"/dicomweb/studies?StudyInstanceUID={ct}&StudyInstanceUID={sc}")
    assert uids(both) == {ct, sc}


def test_accession_number_is_not_kept(stored, reader):
    assert get(reader, "/dicomweb/studies", AccessionNumber="A123").status_code == 204
    assert len(uids(get(reader, "/dicomweb/studies", AccessionNumber=""))) == 3


def test_limit_offset_and_the_more_results_warning(stored, reader):
    first = get(reader, "/dicomweb/studies", limit=2)
    assert len(first.json()) == 2
    assert "additional results" in first["Warning"]
    rest = get(reader, "/dicomweb/studies", limit=2, offset=2)
    assert len(rest.json()) == 1 and "Warning" not in rest
    assert uids(first) | uids(rest) == {stored[k].StudyInstanceUID for k in ("ct", "mr", "sc")}
    assert get(reader, "/dicomweb/studies", offset=3).status_code == 204
    assert get(reader, "/dicomweb/studies", limit=0).status_code == 400
    assert get(reader, "/dicomweb/studies", offset=-1).status_code == 400


def test_fuzzymatching_and_unsupported_keys_warn_unknown_names_400(stored, reader):
    resp = get(reader, "/dicomweb/studies", fuzzymatching="true")
    assert resp.status_code == 200 and "fuzzymatching parameter is not supported" in resp["Warning"]
    resp = get(reader, "/dicomweb/studies", InstitutionName="X")
    assert resp.status_code == 200 and "InstitutionName" in resp["Warning"]
    assert get(reader, "/dicomweb/studies", NotAKeyword="1").status_code == 400


def test_series_of_a_study_and_all_series(stored, reader):
    sc = stored["sc"]
    resp = get(reader, f"/dicomweb/studies/{sc.StudyInstanceUID}/series")
    (series,) = resp.json()
    assert value(series, SERIES_UID) == sc.SeriesInstanceUID
    assert value(series, "00080060") == "OT"
    assert value(series, "00201209") == 6
    assert PATIENT_ID not in series  # study attributes only when asked for
    assert value(series, "00081190").endswith(f"/studies/{sc.StudyInstanceUID}/series/{sc.SeriesInstanceUID}")
    with_patient = get(reader, f"/dicomweb/studies/{sc.StudyInstanceUID}/series", includefield="PatientID")
    assert PATIENT_ID in with_patient.json()[0]
    all_series = get(reader, "/dicomweb/series", Modality="CT")
    (ct,) = all_series.json()
    assert value(ct, SERIES_UID) == stored["ct"].SeriesInstanceUID
    assert value(ct, STUDY_UID) == stored["ct"].StudyInstanceUID  # study attributes come with /series
    assert uids(get(reader, "/dicomweb/series", SeriesInstanceUID=sc.SeriesInstanceUID), SERIES_UID) == {
        sc.SeriesInstanceUID
    }
    assert get(reader, "/dicomweb/series", SeriesNumber="x").status_code == 400


def test_instances_levels_and_includefield(stored, reader, dicom):
    sc = stored["sc"]
    path = f"/dicomweb/studies/{sc.StudyInstanceUID}/series/{sc.SeriesInstanceUID}/instances"
    body = get(reader, path).json()
    assert len(body) == 6
    one = body[0]
    assert value(one, "00080016") == "1.2.840.10008.5.1.4.1.1.7"
    assert value(one, "00280010") == 100 and value(one, "00280011") == 100
    assert value(one, "00280100") == 8
    assert "00280004" not in one
    sop = str(pydicom.dcmread(io.BytesIO(dicom(SC_STUDY[2]))).SOPInstanceUID)
    assert uids(get(reader, path, SOPInstanceUID=sop), SOP_UID) == {sop}
    assert uids(get(reader, "/dicomweb/instances", SOPInstanceUID=sop), SOP_UID) == {sop}
    (full,) = get(reader, "/dicomweb/instances", SOPInstanceUID=sop, includefield="all").json()
    assert full["00280004"]["vr"] == "CS"  # from the stored, de-identified header
    assert value(full, PATIENT_ID) == value(full, "00100020")
    assert uids(
        get(reader, f"/dicomweb/studies/{sc.StudyInstanceUID}/instances", InstanceNumber="1"), SOP_UID
    )
    assert len(get(reader, "/dicomweb/instances", limit=4).json()) == 4


def test_another_sites_studies_are_never_returned(
    stored, reader, make_case, other_site, other_radiologist, token_client
):
    foreign = make_case(other_site)
    uid = foreign.study.study_instance_uid
    assert uid not in uids(get(reader, "/dicomweb/studies"))
    assert get(reader, "/dicomweb/studies", StudyInstanceUID=uid).status_code == 204
    assert get(reader, f"/dicomweb/studies/{uid}/series").status_code == 204
    assert get(reader, "/dicomweb/instances", SOPInstanceUID=f"{uid}.1.0").status_code == 204
    theirs = token_client(other_radiologist, "read")
    assert uids(get(theirs, "/dicomweb/studies")) == {uid}


def test_token_needs_read_scope(stored, token_client, integration):
    assert get(token_client(integration, "upload"), "/dicomweb/studies").status_code == 403


@pytest.mark.parametrize("path", ["/dicomweb/studies", "/dicomweb/series", "/dicomweb/instances"])
def test_constant_query_count_per_page(path, token_client, radiologist, make_case, site):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = token_client(radiologist, "read")

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            resp = get(client, path, limit=1000)
        assert resp.status_code == 200
        return len(ctx.captured_queries)

    for _ in range(3):
        make_case(site, images=2)
    count()  # the token's first use writes its last-used time once
    few = count()
    for _ in range(27):
        make_case(site, images=2, modality="MR")
    assert count() == few


def test_a_browser_session_works_too(stored, client, radiologist):
    client.force_login(radiologist)
    assert len(uids(get(client, "/dicomweb/studies"))) == 3
