"""COM and APPn segments inside encapsulated JPEG / JPEG-LS frames go; the frames decode to the same pixels."""

from __future__ import annotations

import io
import struct

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames, parse_basic_offsets

from oncocore.imaging import DeidOptions, Prepared, SourceFile, prepare
from oncocore.imaging.frame_metadata import strip_jpeg_frame

CANARY = b"CANARY-FRAME-DOE^JOHN"


def _segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def _tag_frame(frame: bytes) -> bytes:
    """COM, APP1 and APP15 canaries after SOI, and a COM just before the scan.

    No JFIF is added: its presence alone tells a decoder that 3 components are
    YCbCr, so it would change the colours of an RGB frame.
    """
    head = _segment(0xFE, CANARY) + _segment(0xE1, b"Exif\x00\x00" + CANARY) + _segment(0xEF, CANARY)
    sos = frame.index(b"\xff\xda")
    return frame[:2] + head + frame[2:sos] + _segment(0xFE, CANARY) + frame[sos:]


def _with_tagged_frames(path, frames_wanted: int = 1, bot: bool = True) -> tuple[bytes, np.ndarray]:
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID"):  # some samples lack them; intake needs them
        if keyword not in ds:
            setattr(ds, keyword, pydicom.uid.generate_uid())
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    frames = [_tag_frame(frame)] * frames_wanted
    ds.PixelData = encapsulate(frames, has_bot=bot)
    ds["PixelData"].is_undefined_length = True
    if frames_wanted > 1:
        ds.NumberOfFrames = frames_wanted
        expected = np.stack([expected] * frames_wanted)
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue(), expected


@pytest.mark.parametrize(
    "name",
    [
        "SC_rgb_jpeg_dcmtk.dcm",  # baseline, YBR_FULL
        "SC_jpeg_no_color_transform.dcm",  # baseline RGB with an Adobe APP14 transform flag of 0
        "JPGExtended.dcm",  # 12-bit extended
        "SC_rgb_jpeg_gdcm.dcm",  # lossless SV1
        "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS
        "SC_rgb_jls_lossy_line.dcm",  # JPEG-LS lossy, colour
    ],
)
@pytest.mark.parametrize(("frames", "bot"), [(1, False), (3, True)])
def test_frame_canaries_go_and_pixels_stay(name, frames, bot, data_path, limits, pseudonym_key):
    data, expected = _with_tagged_frames(data_path(f"dicom/pydicom/{name}"), frames, bot)
    assert data.count(CANARY) == 4 * frames
    p = prepare(SourceFile("f.dcm", data), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key)
    assert isinstance(p, Prepared), p
    assert CANARY not in p.stored_bytes and CANARY[:6] not in p.stored_bytes
    stored = pydicom.dcmread(io.BytesIO(p.stored_bytes))
    assert np.array_equal(stored.pixel_array, expected)  # decodable and pixel-identical
    offsets = parse_basic_offsets(stored.PixelData)
    assert len(offsets) == (frames if bot else 0)  # the Basic Offset Table kept, and right
    if bot:
        stored_frames = list(generate_frames(stored.PixelData, number_of_frames=frames))
        assert len(stored_frames) == frames and all(f.startswith(b"\xff\xd8") for f in stored_frames)


def test_untagged_frames_are_stored_byte_for_byte(data_path, limits, pseudonym_key):
    path = data_path("dicom/pydicom/SC_rgb_jpeg_dcmtk.dcm")
    original = pydicom.dcmread(path).PixelData
    p = prepare(
        SourceFile("f.dcm", path.read_bytes()), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key
    )
    assert pydicom.dcmread(io.BytesIO(p.stored_bytes)).PixelData == original


def test_strip_keeps_scan_data_with_ff_bytes():
    """Entropy-coded bytes (FF00 stuffing, RSTn, JPEG-LS FF7x) are copied, whatever they look like."""
    scan = b"\x12\xff\x00\x34\xff\xd0\x56\xff\x7f\x00"
    frame = (
        b"\xff\xd8"
        + _segment(0xFE, CANARY)
        + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
        + scan
        + b"\xff\xd9"
    )
    out, removed = strip_jpeg_frame(frame)
    assert (
        removed == 1 and out == b"\xff\xd8" + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00") + scan + b"\xff\xd9"
    )
