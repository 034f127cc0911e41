"""The streaming multipart/related parser, fed in tiny chunks so every boundary straddles reads."""

from __future__ import annotations

import io

import pytest

from dicomweb.multipart import MultipartError, content_type_params, iter_parts
from tests.dicomweb.conftest import multipart_related


def parse(body: bytes, boundary: str, chunk: int = 7, **kwargs):
    return list(
        iter_parts(
            io.BytesIO(body).read,
            boundary,
            max_parts=kwargs.pop("max_parts", 100),
            chunk_bytes=chunk,
            **kwargs,
        )
    )


def test_parts_come_back_byte_for_byte_whatever_the_chunk_size():
    payloads = [b"\x00" * 300 + b"DICM" + b"\r\n--not-the-boundary\r\n", b"", b"x" * 5000]
    body, ctype = multipart_related(payloads, boundary="b0und4ry")
    media_type, params = content_type_params(ctype)
    assert (media_type, params["type"], params["boundary"]) == (
        "multipart/related",
        "application/dicom",
        "b0und4ry",
    )
    for chunk in (1, 7, 64, 1 << 20):
        parts = parse(b"preamble\r\n" + body + b"epilogue", "b0und4ry", chunk=chunk)
        assert [p.data for p in parts] == payloads
        assert all(p.content_type("x") == "application/dicom" for p in parts)


def test_part_without_headers_takes_the_default_type():
    (part,) = parse(b"--b\r\n\r\nDATA\r\n--b--", "b")
    assert part.data == b"DATA" and part.content_type("application/dicom") == "application/dicom"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"no delimiter at all", "preamble"),
        (b"--b\r\nContent-Type: application/dicom\r\n\r\nDATA without end", "ends inside part 1"),
        (b"--b junk\r\n\r\nx\r\n--b--", "followed by other text"),
    ],
)
def test_malformed_bodies_say_where(body, why):
    with pytest.raises(MultipartError, match=why):
        parse(body, "b")


def test_limits_on_parts_and_part_size():
    body, _ = multipart_related([b"a", b"b", b"c"], boundary="b")
    with pytest.raises(MultipartError, match="more than 2 parts"):
        parse(body, "b", max_parts=2)
    with pytest.raises(MultipartError, match="longer than"):
        parse(multipart_related([b"x" * 100], boundary="b")[0], "b", max_part_bytes=10)


def test_boundaries_longer_than_rfc_2046_are_read_as_real_senders_write_them():
    # Orthanc's DICOMweb plugin writes two UUIDs joined by a dash: 73 characters.
    orthanc = "8f7e6d5c-4b3a-2918-0716-253443526170-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"
    assert len(orthanc) == 73
    body, _ = multipart_related([b"DATA"], boundary=orthanc)
    assert [p.data for p in parse(body, orthanc)] == [b"DATA"]


def test_a_boundary_over_200_characters_is_refused_with_the_bound():
    with pytest.raises(MultipartError, match="1 to 200 characters"):
        parse(b"--" + b"b" * 201 + b"\r\n\r\nx", "b" * 201)
