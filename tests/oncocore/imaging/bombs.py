"""The hostile corpus of issue 24 (items 1 and 6): decompression bombs, built on the fly.

Each DICOM bomb is a small, otherwise valid CT file whose header says
``header`` x ``header`` but whose codestream is ``stream`` x ``stream``:
real encodes where a codec can write one (JPEG baseline/extended with Pillow,
JPEG-LS with CharLS, JPEG 2000 with OpenJPEG), forged frame headers where none
can (JPEG lossless, HTJ2K, a JPEG-LS size given in an LSE segment), and RLE
segments of repeat runs. Zip bombs: central-directory entries that all point
at one local entry. Shared by the tests (``tests/oncocore/imaging``,
``tests/cases/...``) and ``bench/bombs.py``.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable

import jpeg_ls as charls
import numpy as np
import openjpeg
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)


def dicom_file(
    frames: list[bytes], ts: UID, *, rows: int, cols: int, bits: int = 8, samples: int = 1
) -> bytes:
    """A Part 10 CT file around encapsulated ``frames`` (or native pixel bytes when ``ts`` is native)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientID, ds.PatientName = "CT", "BOMB-1", "Bomb^Test"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = "MONOCHROME2" if samples == 1 else "RGB"
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 0
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
    if ts.is_encapsulated:
        ds.PixelData = encapsulate(frames)
        ds["PixelData"].VR = "OB"
    else:
        ds.PixelData = b"".join(frames)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


# --- codestreams of a given size ---------------------------------------------------------------


def jpeg_baseline(size: int) -> bytes:
    """A real 8-bit baseline JPEG of ``size`` x ``size`` (SOF0)."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((size, size), np.uint8)).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def _with_sof(stream: bytes, marker: int) -> bytes:
    """``stream`` with its SOF0 marker replaced by ``marker`` (0xC1 extended, 0xC3 lossless)."""
    at = stream.index(b"\xff\xc0")
    return stream[:at] + bytes([0xFF, marker]) + stream[at + 2 :]


def jpeg_ls(size: int, bits: int = 8) -> bytes:
    """A real JPEG-LS codestream of ``size`` x ``size`` zeros (SOF55)."""
    dtype = np.uint8 if bits <= 8 else np.uint16
    return bytes(charls.encode(np.zeros((size, size), dtype)))


def jpeg_ls_oversize(size: int) -> bytes:
    """A JPEG-LS stream whose SOF55 says 0 x 0 and whose LSE ID 4 segment gives ``size`` x ``size``."""
    stream = jpeg_ls(16)
    at = stream.index(b"\xff\xf7")
    (length,) = struct.unpack(">H", stream[at + 2 : at + 4])
    sof = bytearray(stream[at : at + 2 + length])
    sof[5:9] = bytes(4)  # Y and X
    lse = b"\xff\xf8" + struct.pack(">HBBII", 2 + 1 + 1 + 8, 4, 4, size, size)
    return stream[:at] + bytes(sof) + lse + stream[at + 2 + length :]


def j2k(size: int, bits: int = 8) -> bytes:
    """A real JPEG 2000 codestream (SOC, SIZ ...) of ``size`` x ``size`` zeros."""
    dtype = np.uint8 if bits <= 8 else np.uint16
    return bytes(openjpeg.encode(np.zeros((size, size), dtype)))


def jp2(size: int) -> bytes:
    """The same, wrapped in a JP2 file (signature, ftyp, jp2h ... jp2c boxes)."""
    return bytes(openjpeg.encode(np.zeros((size, size), np.uint8), codec_format=1))


def rle_repeats(plane_bytes: int) -> bytes:
    """One RLE segment of repeat runs that expands to ``plane_bytes`` zeros (64 : 1)."""
    runs, rest = divmod(plane_bytes, 128)
    return b"\x81\x00" * runs + (bytes([257 - rest, 0]) if rest > 1 else b"\x00\x00" if rest else b"")


def rle_frame(segments: list[bytes]) -> bytes:
    offsets, at = [], 64
    for segment in segments:
        offsets.append(at)
        at += len(segment)
    header = struct.pack("<16I", len(segments), *offsets, *[0] * (15 - len(segments)))
    return header + b"".join(segments)


# --- the bombs -----------------------------------------------------------------------------------

# name -> (transfer syntax, codestream builder for a size, bits allocated)
CODESTREAMS: dict[str, tuple[UID, Callable[[int], bytes], int]] = {
    "JPEG baseline": (JPEGBaseline8Bit, jpeg_baseline, 8),
    "JPEG extended": (JPEGExtended12Bit, lambda n: _with_sof(jpeg_baseline(n), 0xC1), 8),
    "JPEG lossless": (JPEGLosslessSV1, lambda n: _with_sof(jpeg_baseline(n), 0xC3), 8),
    "JPEG-LS": (JPEGLSLossless, jpeg_ls, 8),
    "JPEG-LS 16-bit": (JPEGLSLossless, lambda n: jpeg_ls(n, 16), 16),
    "JPEG-LS LSE oversize": (JPEGLSLossless, jpeg_ls_oversize, 8),
    "JPEG 2000": (JPEG2000Lossless, j2k, 8),
    "JPEG 2000 in JP2": (JPEG2000, jp2, 8),
    "HTJ2K": (HTJ2K, j2k, 8),
}
KIND = {
    "JPEG baseline": "JPEG",
    "JPEG extended": "JPEG",
    "JPEG lossless": "JPEG",
    "JPEG-LS": "JPEG-LS",
    "JPEG-LS 16-bit": "JPEG-LS",
    "JPEG-LS LSE oversize": "JPEG-LS",
    "JPEG 2000": "JPEG 2000",
    "JPEG 2000 in JP2": "JPEG 2000",
    "HTJ2K": "JPEG 2000",
}


def codestream_bomb(name: str, *, header: int = 64, stream: int = 512) -> bytes:
    """A DICOM file whose header says ``header`` x ``header`` around a ``stream`` x ``stream`` codestream."""
    ts, build, bits = CODESTREAMS[name]
    return dicom_file([build(stream)], ts, rows=header, cols=header, bits=bits)


def rle_bomb(*, header: int = 64, expands_to: int = 512 * 512, fallback: bool = False) -> bytes:
    """An 8-bit RLE file whose one segment expands to ``expands_to`` bytes, for a ``header``-square frame.

    ``fallback=True`` makes the file 16-bit with a second segment that ends in a
    cut-off literal run: pylibjpeg-rle refuses that, and pydicom falls back to
    its pure-Python decoder, which expands the first segment in full.
    """
    if not fallback:
        return dicom_file([rle_frame([rle_repeats(expands_to)])], RLELossless, rows=header, cols=header)
    second = rle_repeats(header * header) + b"\x05\x01"
    frame = rle_frame([rle_repeats(expands_to), second])
    return dicom_file([frame], RLELossless, rows=header, cols=header, bits=16)


def deflated_bomb(mebibytes: int) -> bytes:
    """A Deflated Explicit VR Little Endian file of zero frames (1 MiB each) that inflates to ``mebibytes`` MiB."""
    return dicom_file([bytes(1024 * 1024)] * mebibytes, DeflatedExplicitVRLittleEndian, rows=1024, cols=1024)


def overlapping_zip(*, entries: int = 16, entry_bytes: int = 2 * 1024 * 1024, name: str = "a.dcm") -> bytes:
    """``entries`` central-directory entries pointing at one deflated local entry of ``entry_bytes``.

    The content is zeros with a byte of noise every 128 bytes, so each entry's
    own ratio (about 100 : 1) stays under the 200 : 1 limit; together the
    entries inflate ``entries`` times what the archive holds.
    """
    content = bytearray(entry_bytes)
    content[::128] = np.random.default_rng(0).integers(0, 256, len(content[::128]), dtype=np.uint8).tobytes()
    one = io.BytesIO()
    with zipfile.ZipFile(one, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, bytes(content))
    data = one.getvalue()
    eocd = data.rindex(b"PK\x05\x06")
    (cd_size, cd_offset) = struct.unpack("<II", data[eocd + 12 : eocd + 20])
    entry = data[cd_offset : cd_offset + cd_size]
    directory = entry * entries
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, entries, entries, len(directory), cd_offset, 0)
    return data[:cd_offset] + directory + end
