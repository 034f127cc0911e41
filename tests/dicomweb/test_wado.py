"""WADO-RS: instances, metadata, frames and rendered, from real files stored through STOW-RS (the intake)."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image as PILImage

from dicomweb.multipart import content_type_params, iter_parts
from tests.dicomweb.conftest import CT, SC_STUDY

pytestmark = pytest.mark.django_db

DICOM_ACCEPT = 'multipart/related; type="application/dicom"; transfer-syntax=*'
FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
MULTIFRAME = "pydicom-data/emri_small.dcm"  # 10 frames, 16 bit, uncompressed
JPEG_MULTIFRAME = "pydicom-data/emri_small_RLE.dcm"


@pytest.fixture
def stored(stow, dicom):
    files = [*SC_STUDY, CT, MULTIFRAME]
    response = stow([dicom(name) for name in files])
    assert response.status_code == 200, response.content
    return {name: pydicom.dcmread(io.BytesIO(dicom(name))) for name in files}


@pytest.fixture
def reader(token_client, integration):
    return token_client(integration, "read")


def parts_of(response) -> list[tuple[str, bytes]]:
    media_type, params = content_type_params(response["Content-Type"])
    assert media_type == "multipart/related"
    body = io.BytesIO(b"".join(response.streaming_content) if response.streaming else response.content)
    return [(p.content_type(""), p.data) for p in iter_parts(body.read, params["boundary"], max_parts=1000)]


def url(ds, *, level: str = "instance") -> str:
    base = f"/dicomweb/studies/{ds.StudyInstanceUID}"
    if level == "study":
        return base
    base += f"/series/{ds.SeriesInstanceUID}"
    return base if level == "series" else f"{base}/instances/{ds.SOPInstanceUID}"


def test_retrieve_study_series_and_instance_streamed(stored, reader):
    sc = stored[SC_STUDY[0]]
    response = reader.get(url(sc, level="study"), HTTP_ACCEPT=DICOM_ACCEPT)
    assert response.status_code == 200
    assert response.streaming
    assert 'type="application/dicom"' in response["Content-Type"]
    parts = parts_of(response)
    assert len(parts) == len(SC_STUDY)
    got = {pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID for _, data in parts}
    assert got == {str(stored[name].SOPInstanceUID) for name in SC_STUDY}
    first = pydicom.dcmread(io.BytesIO(parts[0][1]))
    assert first.PatientID != sc.PatientID  # the de-identified file, never the upload
    assert parts[0][0] == "application/dicom"

    ct = stored[CT]
    (only,) = parts_of(reader.get(url(ct, level="series")))  # no Accept: the stored syntax
    assert pydicom.dcmread(io.BytesIO(only[1])).SOPInstanceUID == ct.SOPInstanceUID
    (one,) = parts_of(reader.get(url(ct), HTTP_ACCEPT=DICOM_ACCEPT))
    stored_ct = pydicom.dcmread(io.BytesIO(one[1]))
    assert stored_ct.file_meta.TransferSyntaxUID == ct.file_meta.TransferSyntaxUID
    assert np.array_equal(stored_ct.pixel_array, ct.pixel_array)


def test_transfer_syntax_is_never_transcoded(stored, reader):
    ct = stored[CT]
    same = f'multipart/related; type="application/dicom"; transfer-syntax={ct.file_meta.TransferSyntaxUID}'
    assert reader.get(url(ct), HTTP_ACCEPT=same).status_code == 200
    other = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'
    refused = reader.get(url(ct), HTTP_ACCEPT=other)
    assert refused.status_code == 406
    assert "transcoded" in refused.json()["message"]
    assert reader.get(url(ct), HTTP_ACCEPT="application/dicom+xml").status_code == 406
    assert reader.get(url(ct), HTTP_ACCEPT="text/html").status_code == 406


def test_metadata_at_each_level(stored, reader):
    sc = stored[SC_STUDY[0]]
    study = reader.get(f"{url(sc, level='study')}/metadata")
    assert study.status_code == 200
    assert study["Content-Type"] == "application/dicom+json"
    assert len(study.json()) == len(SC_STUDY)
    series = reader.get(f"{url(sc, level='series')}/metadata", HTTP_ACCEPT="application/dicom+json")
    assert len(series.json()) == len(SC_STUDY)

    mr = stored[MULTIFRAME]
    (item,) = reader.get(f"{url(mr)}/metadata").json()
    ds = pydicom.Dataset.from_json({k: v for k, v in item.items() if k != "7FE00010"})
    assert ds.SOPInstanceUID == mr.SOPInstanceUID
    assert int(ds.NumberOfFrames) == 10
    (ct_item,) = reader.get(f"{url(stored[CT])}/metadata").json()
    assert ct_item["00100020"]["Value"][0] not in ("", stored[CT].PatientID)
    pixel = item["7FE00010"]
    assert "Value" not in pixel and "InlineBinary" not in pixel
    assert pixel["BulkDataURI"].startswith("http://testserver/dicomweb/")
    assert pixel["BulkDataURI"].endswith(f"{url(mr)}/frames/1,2,3,4,5,6,7,8,9,10")
    assert reader.get(f"{url(mr)}/metadata", HTTP_ACCEPT="application/dicom+xml").status_code == 406


def test_frames_are_the_uncompressed_pixel_bytes(stored, reader):
    mr = stored[MULTIFRAME]
    response = reader.get(f"{url(mr)}/frames/1,3,10", HTTP_ACCEPT=FRAMES_ACCEPT)
    assert response.status_code == 200
    parts = parts_of(response)
    assert [ctype for ctype, _ in parts] == ["application/octet-stream"] * 3
    frames = mr.pixel_array
    for (_, data), number in zip(parts, [1, 3, 10], strict=True):
        assert data == frames[number - 1].astype("<u2").tobytes()
    # The metadata's BulkDataURI for the pixel data answers every frame.
    (item,) = reader.get(f"{url(mr)}/metadata").json()
    assert len(parts_of(reader.get(item["7FE00010"]["BulkDataURI"]))) == 10


def test_frames_of_a_compressed_file_are_decoded(stow, dicom, reader):
    assert stow([dicom(JPEG_MULTIFRAME)]).status_code == 200
    ds = pydicom.dcmread(io.BytesIO(dicom(JPEG_MULTIFRAME)))
    assert ds.file_meta.TransferSyntaxUID.is_compressed
    (part,) = parts_of(reader.get(f"{url(ds)}/frames/2"))
    assert part[1] == ds.pixel_array[1].astype(ds.pixel_array.dtype.newbyteorder("<")).tobytes()


@pytest.mark.parametrize("frames", ["0", "11", "1,99", "x", "1-3"])
def test_a_frame_out_of_range_is_400(stored, reader, frames):
    response = reader.get(f"{url(stored[MULTIFRAME])}/frames/{frames}", HTTP_ACCEPT=FRAMES_ACCEPT)
    assert response.status_code == 400
    assert response.json()["code"]


def test_frames_refuse_other_types(stored, reader):
    refused = reader.get(f"{url(stored[MULTIFRAME])}/frames/1", HTTP_ACCEPT="image/jpeg")
    assert refused.status_code == 406
    assert "application/octet-stream" in refused.json()["message"]


def test_rendered_png_and_jpeg(stored, reader):
    mr = stored[MULTIFRAME]
    jpeg = reader.get(f"{url(mr)}/rendered")  # no Accept: JPEG, the standard's default
    assert jpeg.status_code == 200
    assert jpeg["Content-Type"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(jpeg.content)).format == "JPEG"
    png = reader.get(f"{url(mr)}/frames/3/rendered", HTTP_ACCEPT="image/png")
    assert png["Content-Type"] == "image/png"
    picture = PILImage.open(io.BytesIO(png.content))
    assert picture.format == "PNG"
    assert picture.size == (mr.Columns, mr.Rows)
    assert reader.get(f"{url(mr)}/frames/11/rendered").status_code == 400
    assert reader.get(f"{url(mr)}/rendered", HTTP_ACCEPT="image/gif").status_code == 406
    # Preference order is honoured.
    pref = reader.get(f"{url(mr)}/rendered", HTTP_ACCEPT="image/jpeg;q=0.5, image/png")
    assert pref["Content-Type"] == "image/png"


def test_plain_image_uploads_have_no_dicom_file(brain_case, reader):
    image = brain_case.first().images.select_related("series__study").get()
    base = (
        f"/dicomweb/studies/{image.series.study.study_instance_uid}/series/{image.series.series_instance_uid}"
        f"/instances/{image.sop_instance_uid}"
    )
    for path in (base, f"{base}/frames/1", f"/dicomweb/studies/{image.series.study.study_instance_uid}"):
        refused = reader.get(path)
        assert refused.status_code == 406, path
        assert "plain image" in refused.json()["message"]
    (item,) = reader.get(f"{base}/metadata").json()
    assert item["00080018"]["Value"] == [image.sop_instance_uid]
    assert reader.get(f"{base}/rendered", HTTP_ACCEPT="image/png").status_code == 200


def test_unknown_and_other_sites_objects_are_404(stored, reader, token_client, other_radiologist):
    ct = stored[CT]
    theirs = token_client(other_radiologist, "read")
    for path in (
        url(ct, level="study"),
        url(ct, level="series"),
        url(ct),
        f"{url(ct)}/metadata",
        f"{url(ct, level='study')}/metadata",
        f"{url(ct)}/frames/1",
        f"{url(ct)}/rendered",
        f"{url(ct)}/frames/1/rendered",
    ):
        denied = theirs.get(path)
        assert denied.status_code == 404, path
        assert str(ct.StudyInstanceUID) not in denied.content.decode()
        assert reader.get(path).status_code == 200, path
    assert reader.get("/dicomweb/studies/1.2.3.4").status_code == 404
    assert reader.get(f"{url(ct, level='series')}/instances/1.2.3.4/metadata").status_code == 404


def test_anonymous_is_401_and_read_scope_is_needed(stored, client, token_client, integration):
    ct = stored[CT]
    anonymous = client.get(url(ct))
    assert anonymous.status_code == 401
    assert "Bearer" in anonymous["WWW-Authenticate"]
    assert token_client(integration, "upload").get(f"{url(ct)}/metadata").status_code == 403


def test_a_browser_session_works_too(stored, client, radiologist):
    client.force_login(radiologist)
    assert client.get(f"{url(stored[CT])}/rendered", HTTP_ACCEPT="image/png").status_code == 200
