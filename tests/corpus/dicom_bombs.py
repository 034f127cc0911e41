"""DICOM inputs of the corpus: codestream and deflate bombs (the seeds and fresh UIDs are ``dicom_inputs``')."""

from __future__ import annotations

import struct
import zlib

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEG2000Lossless

from tests.corpus.dicom_inputs import Seed, _same_length_uid
from tests.corpus.model import HostileInput
from tests.oncocore.imaging import bombs


def codestream_bombs() -> list[HostileInput]:
    """Every compressed syntax: a 512 x 512 and a 2048 x 2048 codestream in a 64 x 64 header
    (refused), and its honest 64 x 64 twin (accepted). RLE: a segment that expands past the
    frame, with and without pydicom's Python fallback; and a JPEG 2000 stream with fewer
    components than the header's samples (it aborted the process before the fix)."""
    out = []
    for name, (ts, build, bits) in bombs.CODESTREAMS.items():
        key = name.lower().replace(" ", "-")
        for size in (512, 2048):
            out.append(
                HostileInput(
                    name=f"codestream-bomb/{key}/{size}",
                    category="codestream-bomb",
                    data=bombs.codestream_bomb(name, stream=size),
                    expect="reject",
                    reason_has="codestream",
                    filename=f"{key}-{size}.dcm",
                )
            )
        honest = bombs.dicom_file([build(64)], ts, rows=64, cols=64, bits=bits)
        out.append(
            HostileInput(
                name=f"codestream-bomb/{key}/honest",
                category="codestream-bomb",
                data=honest,
                # bombs' "JPEG lossless" is a baseline scan under a lossless SOF: no decoder reads it.
                expect="reject"
                if name == "JPEG lossless"
                else "either"
                if name == "JPEG-LS LSE oversize"
                else "accept",
                filename=f"{key}-honest.dcm",
            )
        )
    out += [
        HostileInput(
            "codestream-bomb/rle/segment",
            "codestream-bomb",
            bombs.rle_bomb(),
            "reject",
            reason_has="rle",
            filename="rle.dcm",
        ),
        HostileInput(
            "codestream-bomb/rle/python-fallback",
            "codestream-bomb",
            bombs.rle_bomb(fallback=True),
            "reject",
            reason_has="rle",
            filename="rle-fallback.dcm",
        ),
        HostileInput(
            "codestream-bomb/j2k/components",
            "codestream-bomb",
            bombs.dicom_file([bombs.j2k(64)], JPEG2000Lossless, rows=64, cols=64, samples=3),
            "reject",
            reason_has="components",
            filename="j2k-components.dcm",
        ),
    ]
    return out


def deflated(dataset_body: bytes, zeros: int) -> bytes:
    """A Deflated Explicit VR file: ``dataset_body`` (explicit VR LE elements) then a Pixel Data
    of ``zeros`` zero bytes, deflated a chunk at a time (the bomb is never whole in memory)."""
    meta = Dataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = _same_length_uid("1" * 40, f"deflate/{len(dataset_body)}/{zeros}")
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    buf = pydicom.filebase.DicomBytesIO()
    pydicom.filewriter.write_file_meta_info(buf, pydicom.dataset.FileMetaDataset(meta))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [b"\x00" * 128 + b"DICM" + buf.getvalue(), compressor.compress(dataset_body)]
    out.append(compressor.compress(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, zeros)))
    chunk = bytes(1024 * 1024)
    for _ in range(zeros // len(chunk)):
        out.append(compressor.compress(chunk))
    out.append(compressor.compress(bytes(zeros % len(chunk))))
    out.append(compressor.flush())
    return b"".join(out)


def _dataset_body(rows: int, cols: int, key: str) -> bytes:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = _same_length_uid("1" * 40, f"{key}/sop")
    ds.StudyInstanceUID = _same_length_uid("1" * 40, f"{key}/study")
    ds.SeriesInstanceUID = _same_length_uid("1" * 40, f"{key}/series")
    ds.Modality, ds.PatientID = "OT", "DEFLATE-1"
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    buf = pydicom.filebase.DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    pydicom.filewriter.write_dataset(buf, ds)
    return buf.getvalue()


def deflate_bombs(seeds: dict[str, Seed]) -> list[HostileInput]:
    """Deflated datasets past the file limit (8 MiB in the corpus's settings), and an honest one."""
    out = []
    for mib in (12, 64):
        side = 4096  # 16 MiB a frame would be over nothing; the size is all in the pixel data
        out.append(
            HostileInput(
                name=f"deflate-bomb/{mib}-mib",
                category="deflate-bomb",
                data=deflated(_dataset_body(side, side, f"deflate-{mib}"), mib * 1024 * 1024),
                expect="reject",
                reason_has="deflated",
                filename=f"deflate-{mib}.dcm",
            )
        )
    out.append(
        HostileInput(
            name="deflate-bomb/honest-64x64",
            category="deflate-bomb",
            data=deflated(_dataset_body(64, 64, "deflate-honest"), 64 * 64),
            expect="accept",
            filename="deflate-honest.dcm",
        )
    )
    return out
