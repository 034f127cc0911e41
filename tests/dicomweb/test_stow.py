"""STOW-RS: real files through the intake, the Store Instances Response, statuses 200/202/409/4xx."""

from __future__ import annotations

import pytest

from tests.dicomweb.conftest import CT, MALFORMED, NO_PIXELS, SC_STUDY, multipart_related

pytestmark = pytest.mark.django_db

FAILED, REFERENCED, RETRIEVE_URL, REASON = "00081198", "00081199", "00081190", "00081197"
SOP_CLASS, SOP_INSTANCE, TEXT = "00081150", "00081155", "00091010"


def values(item: dict, tag: str) -> list:
    return item.get(tag, {}).get("Value", [])


def test_stow_a_study_stores_every_instance(stow, dicom, integration):
    from cases.models import Image, IntakeBatch, Study

    resp = stow([dicom(name) for name in SC_STUDY])
    assert resp.status_code == 200, resp.content
    assert resp["Content-Type"].startswith("application/dicom+json")
    body = resp.json()
    assert FAILED not in body
    refs = values(body, REFERENCED)
    assert len(refs) == len(SC_STUDY)
    study = Study.objects.get()
    assert values(body, RETRIEVE_URL) == [f"http://testserver/dicomweb/studies/{study.study_instance_uid}"]
    stored = set(Image.objects.values_list("sop_instance_uid", flat=True))
    assert {values(ref, SOP_INSTANCE)[0] for ref in refs} == stored
    for ref in refs:
        assert values(ref, SOP_CLASS) == ["1.2.840.10008.5.1.4.1.1.7"]
        assert values(ref, RETRIEVE_URL)[0].endswith(f"/instances/{values(ref, SOP_INSTANCE)[0]}")
    batch = IntakeBatch.objects.get()
    assert (batch.source, batch.accepted_count, batch.uploaded_by) == ("dicomweb", 6, integration)


def test_malformed_and_non_dicom_parts_fail_with_reasons_the_rest_stored(stow, dicom):
    resp = stow([dicom(CT), dicom(MALFORMED), ("application/dicom", b"hello, not DICOM"), dicom(NO_PIXELS)])
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert len(values(body, REFERENCED)) == 1
    failed = values(body, FAILED)
    assert [values(item, REASON)[0] for item in failed] == [0xA900, 0xC000, 0x0122]
    assert "truncated pixel data" in values(failed[0], TEXT)[0]
    assert values(failed[0], SOP_INSTANCE)  # the instance is named when its header could be read
    assert "not a DICOM instance" in values(failed[1], TEXT)[0]
    assert "no pixel data" in values(failed[2], TEXT)[0]


def test_all_failed_is_409_and_nothing_stored(stow, dicom):
    from cases.models import Image, Study

    resp = stow([dicom(MALFORMED), dicom(NO_PIXELS)])
    assert resp.status_code == 409
    assert REFERENCED not in resp.json()
    assert not Image.objects.exists() and not Study.objects.exists()


def test_duplicates_are_successes_and_add_nothing(stow, dicom):
    from cases.models import Image

    assert stow([dicom(CT)]).status_code == 200
    resp = stow([dicom(CT), dicom(CT)])
    assert resp.status_code == 200
    refs = values(resp.json(), REFERENCED)
    assert len(refs) == 2
    assert all("already stored" in values(ref, TEXT)[0] for ref in refs)
    assert Image.objects.count() == 1


def test_study_specific_post_refuses_an_instance_of_another_study(stow, dicom):
    from io import BytesIO

    import pydicom

    sc_study = str(pydicom.dcmread(BytesIO(dicom(SC_STUDY[0]))).StudyInstanceUID)
    resp = stow([dicom(SC_STUDY[0]), dicom(CT)], path=f"/dicomweb/studies/{sc_study}")
    assert resp.status_code == 202
    body = resp.json()
    assert values(body, RETRIEVE_URL) == [f"http://testserver/dicomweb/studies/{sc_study}"]
    (failed,) = values(body, FAILED)
    assert values(failed, REASON) == [0xC409]
    assert "is not the study of the request" in values(failed, TEXT)[0]


def test_wrong_content_type_is_415(token_client, integration, dicom):
    client = token_client(integration, "read,upload")
    resp = client.generic("POST", "/dicomweb/studies", dicom(CT), content_type="application/dicom")
    assert resp.status_code == 415
    assert "multipart/related" in resp.json()["message"]
    body, ctype = multipart_related([dicom(CT)])
    resp = client.generic(
        "POST",
        "/dicomweb/studies",
        body,
        content_type=ctype.replace("application/dicom", "application/dicom+json"),
    )
    assert resp.status_code == 415


def test_oversized_body_is_413_before_reading_even_unauthenticated(client, settings, dicom):
    from cases.models import IntakeBatch

    settings.INTAKE_MAX_REQUEST_BYTES = 1024
    body, ctype = multipart_related([dicom(CT)])
    resp = client.generic("POST", "/dicomweb/studies", body, content_type=ctype)
    assert resp.status_code == 413
    assert "over the" in resp.json()["message"]
    assert not IntakeBatch.objects.exists()


def test_broken_multipart_is_400(token_client, integration):
    client = token_client(integration, "read,upload")
    resp = client.generic(
        "POST",
        "/dicomweb/studies",
        b"no boundary here",
        content_type='multipart/related; type="application/dicom"; boundary=abc',
    )
    assert resp.status_code == 400
    assert "Malformed multipart body" in resp.json()["message"]


def test_token_without_upload_scope_is_403(stow, token_client, integration, dicom):
    resp = stow([dicom(CT)], client=token_client(integration, "read"))
    assert resp.status_code == 403
    assert "'upload' scope" in resp.json()["message"]


def test_role_without_upload_is_403(stow, token_client, reviewer, dicom):
    resp = stow([dicom(CT)], client=token_client(reviewer, "read,upload"))
    assert resp.status_code == 403


def test_anonymous_is_401_with_the_bearer_challenge(client, dicom):
    body, ctype = multipart_related([dicom(CT)])
    resp = client.generic("POST", "/dicomweb/studies", body, content_type=ctype)
    assert resp.status_code == 401
    assert resp["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/dicomweb/studies").status_code == 401


def test_curator_names_the_site(stow, token_client, curator, site, dicom):
    from cases.models import Study

    client = token_client(curator, "read,upload")
    resp = stow([dicom(CT)], client=client)
    assert resp.status_code == 400
    assert "?site=" in resp.json()["message"]
    assert stow([dicom(CT)], path="/dicomweb/studies?site=nope", client=client).status_code == 400
    assert stow([dicom(CT)], path=f"/dicomweb/studies?site={site.code}", client=client).status_code == 200
    assert Study.objects.get().site == site


def test_site_user_cannot_store_to_another_site(stow, other_site, dicom):
    assert stow([dicom(CT)], path=f"/dicomweb/studies?site={other_site.code}").status_code == 400


def test_stored_instances_are_de_identified(stow, dicom):
    import pydicom
    from django.core.files.storage import default_storage

    from cases.models import Image

    original = pydicom.dcmread(__import__("io").BytesIO(dicom(CT)))
    assert stow([dicom(CT)]).status_code == 200
    image = Image.objects.get()
    with default_storage.open(image.file.name) as fh:
        stored = pydicom.dcmread(fh)
    assert stored.PatientID != original.PatientID and stored.PatientID == image.case.study.patient.pseudonym
    assert stored.SOPInstanceUID == original.SOPInstanceUID


def test_audited_as_dicomweb(stow, dicom):
    from cases.models import AuditEvent

    assert stow([dicom(CT)]).status_code == 200
    event = AuditEvent.objects.get(action="intake.batch")
    assert event.source == "dicomweb"
    assert event.user_agent.startswith("token ")


def test_chunked_body_without_length_is_411(token_client, integration, dicom):
    client = token_client(integration, "read,upload")
    body, ctype = multipart_related([dicom(CT)])
    resp = client.generic(
        "POST", "/dicomweb/studies", body, content_type=ctype, HTTP_TRANSFER_ENCODING="chunked"
    )
    assert resp.status_code == 411


def test_a_part_broken_after_good_ones_fails_alone(token_client, integration, dicom):
    from cases.models import Image

    client = token_client(integration, "read,upload")
    body, ctype = multipart_related([dicom(CT)], boundary="bnd")
    body = body.replace(b"--bnd--\r\n", b"--bnd\r\nContent-Type: application/dicom\r\n\r\ncut off")
    resp = client.generic("POST", "/dicomweb/studies", body, content_type=ctype)
    assert resp.status_code == 202
    (failed,) = values(resp.json(), FAILED)
    assert values(failed, REASON) == [0xC000] and "malformed multipart body" in values(failed, TEXT)[0]
    assert Image.objects.count() == 1


def test_failure_codes_for_intake_reasons():
    from dicomweb.stow import failure_code

    assert failure_code("unsupported transfer syntax: JPIP (x)") == 0xC122
    assert failure_code("image is 9000x9000, over the 40-megapixel limit") == 0xA700
    assert failure_code("storage error: disk full") == 0xA700
    from cases.services.intake_store import REFUSED_HERE

    assert failure_code(REFUSED_HERE) == 0x0110
    assert failure_code("corrupt DICOM header: ValueError: x") == 0xC000
