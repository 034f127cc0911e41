"""COM segments inside JPEG 2000 frames (main and tile-part headers, JP2-wrapped too) go; the pixels stay."""

from __future__ import annotations

import io
import struct

import numpy as np
import openjpeg
import pydicom
import pytest
from openjpeg.utils import encode_array
from pydicom.encaps import encapsulate, generate_frames

from oncocore.imaging import DeidOptions, Prepared, SourceFile, prepare
from oncocore.imaging.j2k_metadata import strip_j2k_frame

CANARY = b"CANARY-J2K-DOE^JOHN"


def com(text: bytes) -> bytes:
    """A COM marker segment, Rcom 1 (Latin-1 text)."""
    return b"\xff\x64" + struct.pack(">HH", len(text) + 4, 1) + text


def segment_end(stream: bytes, pos: int) -> int:
    (length,) = struct.unpack(">H", stream[pos + 2 : pos + 4])
    return pos + 2 + length


def tag_codestream(stream: bytes, *, main: bool = True, tile: bool = True) -> bytes:
    """A COM canary right after SIZ and/or right after the first SOT, with Psot and TLM kept right."""
    siz_end = segment_end(stream, 2)
    out = stream[:siz_end] + (com(CANARY) if main else b"") + stream[siz_end:]
    if tile:
        sot = out.index(b"\xff\x90\x00\x0a")
        (psot,) = struct.unpack(">I", out[sot + 6 : sot + 10])
        grown = com(CANARY)
        out = (
            out[: sot + 6]
            + struct.pack(">I", psot + len(grown) if psot else 0)
            + out[sot + 10 : sot + 12]
            + grown
            + out[sot + 12 :]
        )
        if b"\xff\x55" in out[:sot]:  # TLM with 4-byte Ptlm and 1-byte Ttlm (openjpeg's choice)
            tlm = out.index(b"\xff\x55")
            assert out[tlm + 5] == 0x50
            (ptlm,) = struct.unpack(">I", out[tlm + 7 : tlm + 11])
            out = out[: tlm + 7] + struct.pack(">I", ptlm + len(grown)) + out[tlm + 11 :]
    return out


@pytest.mark.parametrize("tlm", [False, True])
@pytest.mark.parametrize(("main", "tile"), [(True, False), (False, True), (True, True)])
def test_com_goes_from_main_and_tile_part_headers(tlm, main, tile):
    pixels = np.random.default_rng(7).integers(0, 4096, (40, 56), dtype=np.uint16)
    stream = encode_array(pixels, bits_stored=12, add_tlm=tlm)
    tagged = tag_codestream(stream, main=main, tile=tile)
    assert np.array_equal(openjpeg.decode(tagged), pixels)  # the tagged stream is valid

    out, removed = strip_j2k_frame(tagged)

    assert CANARY not in out and b"\xff\x64" not in out  # openjpeg's own "Created by" COM goes too
    assert removed == 1 + main + tile
    assert np.array_equal(openjpeg.decode(out), pixels)
    sot = out.index(b"\xff\x90\x00\x0a")
    (psot,) = struct.unpack(">I", out[sot + 6 : sot + 10])
    assert psot in (0, len(out) - sot - 2)  # one tile-part, then EOC
    if tlm:
        at = out.index(b"\xff\x55")
        assert struct.unpack(">I", out[at + 7 : at + 11])[0] == len(out) - sot - 2


def test_everything_but_com_is_copied_byte_for_byte():
    stream = encode_array(np.arange(1024, dtype=np.uint16).reshape(32, 32))
    out, removed = strip_j2k_frame(tag_codestream(stream))
    own_com = stream.index(b"\xff\x64")
    assert removed == 3 and out == stream[:own_com] + stream[segment_end(stream, own_com) :]


def test_a_codestream_without_com_is_returned_as_is():
    stream = encode_array(np.zeros((32, 32), dtype=np.uint8))
    plain, _ = strip_j2k_frame(stream)
    assert strip_j2k_frame(plain) == (plain, 0)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\xff\xd8\xff\xe0", "does not start with the SOC and SIZ markers"),
        (b"\xff\x4f\xff\x51\x00\x29\x00", "truncated in a marker segment"),
    ],
)
def test_malformed_frames_are_refused_with_a_reason(frame, reason):
    with pytest.raises(Exception, match=reason):
        strip_j2k_frame(frame)


def test_a_truncated_tile_part_is_refused():
    stream = encode_array(np.zeros((32, 32), dtype=np.uint8))
    sot = stream.index(b"\xff\x90\x00\x0a")
    broken = stream[: sot + 6] + struct.pack(">I", len(stream)) + stream[sot + 10 :]
    with pytest.raises(Exception, match="Psot"):
        strip_j2k_frame(broken)


def _dicom_with(path, transform) -> tuple[bytes, np.ndarray]:
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([transform(frame)], has_bot=True)
    ds["PixelData"].is_undefined_length = True
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue(), expected


@pytest.mark.parametrize("name", ["MR_small_jp2klossless.dcm", "JPEG2000.dcm", "SC_rgb_gdcm_KY.dcm"])
def test_dicom_frames_lose_their_com_through_prepare(name, data_path, limits, pseudonym_key):
    data, expected = _dicom_with(data_path(f"dicom/pydicom/{name}"), tag_codestream)
    assert data.count(CANARY) == 2
    p = prepare(SourceFile("f.dcm", data), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key)
    assert isinstance(p, Prepared), p
    assert CANARY not in p.stored_bytes and CANARY[:10] not in p.stored_bytes
    stored = pydicom.dcmread(io.BytesIO(p.stored_bytes))
    assert np.array_equal(stored.pixel_array, expected)


def test_a_jp2_wrapped_frame_keeps_its_image_boxes_and_loses_the_rest(data_path, limits, pseudonym_key):
    """GDCM wrote this frame as a JP2 file, with four uuid boxes; a COM canary goes into its codestream."""

    def tag_jp2(frame: bytes) -> bytes:
        at = frame.index(b"jp2c") - 4
        stream = tag_codestream(frame[at + 8 :].rstrip(b"\x00"), tile=False)
        xml = b"<name>" + CANARY + b"</name>"
        return (
            frame[:at]
            + struct.pack(">I4s", len(xml) + 8, b"xml ")
            + xml
            + struct.pack(">I4s", len(stream) + 8, b"jp2c")
            + stream
        )

    data, expected = _dicom_with(data_path("dicom/pydicom/GDCMJ2K_TextGBR.dcm"), tag_jp2)
    p = prepare(SourceFile("f.dcm", data), limits=limits, deid=DeidOptions(), pseudonym_key=pseudonym_key)
    assert isinstance(p, Prepared), p
    assert CANARY not in p.stored_bytes
    stored = pydicom.dcmread(io.BytesIO(p.stored_bytes))
    frame = next(generate_frames(stored.PixelData, number_of_frames=1))
    assert b"uuid" not in frame and b"xml " not in frame and b"jp2h" in frame and b"colr" in frame
    assert np.array_equal(stored.pixel_array, expected)
