"""The codestream header parsers: sizes read from real encodes, forged headers and cut-off streams."""

from __future__ import annotations

import struct

import pytest

from oncocore.imaging import codestream
from oncocore.imaging.codestream import (
    CodestreamError,
    Dimensions,
    j2k_dimensions,
    jpeg_dimensions,
    rle_segment_exceeds,
    rle_segments,
)

from .bombs import j2k, jp2, jpeg_baseline, jpeg_ls, jpeg_ls_oversize, rle_frame, rle_repeats


def test_jpeg_frame_header_of_a_real_encode():
    assert jpeg_dimensions(jpeg_baseline(300)) == [Dimensions(300, 300, 1)]


def test_jpeg_ls_sof55_and_its_oversize_segment():
    assert jpeg_dimensions(jpeg_ls(40, bits=16)) == [Dimensions(40, 40, 1)]
    # SOF55 says 0 x 0; the LSE ID 4 segment carries the real size on 4 bytes each.
    assert jpeg_dimensions(jpeg_ls_oversize(20000)) == [Dimensions(20000, 20000, 1)]


def test_every_frame_header_of_a_hierarchical_stream_is_returned():
    stream = jpeg_baseline(8)
    at = stream.index(b"\xff\xc0")
    dhp = b"\xff\xde" + struct.pack(">HBHHB", 8, 8, 9000, 9000, 1)
    forged = stream[:at] + dhp + stream[at:]
    assert jpeg_dimensions(forged) == [Dimensions(9000, 9000, 1), Dimensions(8, 8, 1)]


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (b"\x00\x00\xff\xd8", "does not start with a JPEG SOI marker"),
        (b"\xff\xd8\xff\xd9", "ends before its first scan"),
        (b"\xff\xd8\xff\xda\x00\x02", "has no frame header (SOF) before its first scan"),
        (b"\xff\xd8\xff\xc0\x00\x11\x08", "is truncated in a marker segment"),
        # Height 0: to be given by a DNL marker after the first scan, which we do not follow.
        (
            b"\xff\xd8\xff\xc0" + struct.pack(">HBHHB", 8, 8, 0, 64, 1) + b"\xff\xda\x00\x02",
            "leaves its size open (64 x 0) in the frame header",
        ),
    ],
)
def test_jpeg_streams_we_refuse_to_guess_about(stream, reason):
    with pytest.raises(CodestreamError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        jpeg_dimensions(stream)


def test_j2k_siz_bare_and_inside_a_jp2_file():
    assert j2k_dimensions(j2k(70)) == Dimensions(70, 70, 1)
    assert j2k_dimensions(jp2(33)) == Dimensions(33, 33, 1)


def test_j2k_image_area_is_the_grid_less_its_offset():
    stream = bytearray(j2k(64))
    stream[8:12] = struct.pack(">I", 1000)  # Xsiz
    stream[16:20] = struct.pack(">I", 936)  # XOsiz
    assert j2k_dimensions(bytes(stream)) == Dimensions(64, 64, 1)
    stream[16:20] = struct.pack(">I", 1000)
    with pytest.raises(CodestreamError, match="empty image area"):
        j2k_dimensions(bytes(stream))


@pytest.mark.parametrize(
    ("stream", "reason"),
    [
        (b"\xff\xd8\xff\xe0", "does not start with the JPEG 2000 SOC and SIZ markers"),
        (b"\xff\x4f\xff\x51\x00\x29", "has a truncated SIZ marker"),
        (
            b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00\x00\x00\x08free",
            "is a JP2 file without a codestream box",
        ),
    ],
)
def test_j2k_streams_we_refuse(stream, reason):
    with pytest.raises(CodestreamError, match=reason):
        j2k_dimensions(stream)


def test_rle_segments_split_at_the_header_offsets():
    frame = rle_frame([b"\x81\x00", b"\x00\x07\x80"])
    assert rle_segments(frame) == [b"\x81\x00", b"\x00\x07\x80"]
    with pytest.raises(CodestreamError, match="shorter than the 64-byte RLE header"):
        rle_segments(frame[:40])
    with pytest.raises(CodestreamError, match="declares 16 RLE segments"):
        rle_segments(struct.pack("<16I", 16, *range(15)))


@pytest.fixture(params=["pylibjpeg-rle", "python walk"])
def counter(request, monkeypatch):
    """rle_segment_exceeds as it runs (pylibjpeg-rle's bounded decoder) and without it (the Python walk)."""
    if request.param == "python walk":
        monkeypatch.setattr(codestream, "_bounded_decode", None)
    return rle_segment_exceeds


@pytest.mark.parametrize(
    ("segment", "cap", "exceeds"),
    [
        (rle_repeats(4096), 4096, False),  # exactly one plane
        (rle_repeats(4097), 4096, True),
        (rle_repeats(4096), 4095, True),
        (rle_repeats(64 * 1024 * 1024), 4160, True),  # 1 MiB expanding 64:1, stopped early
        (b"\x03abcd" * 1000, 4000, False),  # literal runs: 4 bytes out per 5 in
        (b"\x03abcd" * 1000, 3999, True),
        (b"\x80" * 10_000, 10, False),  # no-op headers only
    ],
)
def test_rle_segment_exceeds(counter, segment, cap, exceeds):
    assert counter(segment, cap) is exceeds
