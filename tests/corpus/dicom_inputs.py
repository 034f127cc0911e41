"""DICOM inputs of the corpus: truncated, bit-flipped, wrong VRs and lengths, absurd dimensions,
NaN/inf rescale values, codestream and deflate bombs.

Seeds are real files from ``../shared/data/dicom`` (one per transfer syntax family);
without that folder, pydicom writes stand-ins of the same syntaxes. Every input gets
its own Study, Series and SOP Instance UIDs (same length, so every element length
stays right), derived from its name: no input is a duplicate of another, and the
corpus is the same on every run.
"""

from __future__ import annotations

import functools
import hashlib
import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from tests.conftest import DATA_DIR
from tests.corpus.model import HostileInput
from tests.oncocore.imaging import bombs

# name -> file under ../shared/data/dicom
SEED_FILES = {
    "mr-explicit": "pydicom/MR_small.dcm",
    "mr-implicit": "pydicom/MR_small_implicit.dcm",
    "mr-bigendian": "pydicom/MR_small_bigendian.dcm",
    "mr-rle": "pydicom/MR_small_RLE.dcm",
    "mr-j2k": "pydicom/MR_small_jp2klossless.dcm",
    "mr-jpegls": "pydicom/MR_small_jpeg_ls_lossless.dcm",
    "sc-jpeg-baseline": "pydicom/SC_rgb_jpeg_dcmtk.dcm",
    "sc-jpeg-lossless": "pydicom/SC_rgb_jpeg_gdcm.dcm",
    "ot-deflated": "pydicom/image_dfl.dcm",
    "ct-explicit": "pydicom/CT_small.dcm",
}
# The stand-ins' transfer syntaxes when the data folder is absent.
_FALLBACK_SYNTAX = {
    "mr-explicit": ExplicitVRLittleEndian,
    "mr-implicit": ImplicitVRLittleEndian,
    "mr-bigendian": ExplicitVRBigEndian,
    "mr-rle": RLELossless,
    "mr-j2k": JPEG2000Lossless,
    "mr-jpegls": JPEGLSLossless,
    "sc-jpeg-baseline": JPEGBaseline8Bit,
    "sc-jpeg-lossless": JPEGBaseline8Bit,
    "ot-deflated": DeflatedExplicitVRLittleEndian,
    "ct-explicit": ExplicitVRLittleEndian,
}


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    ts: UID
    pixel_at: int  # offset of the Pixel Data value (its first byte) in ``data``; -1 if unknown (deflated)
    pixel_len: int

    @property
    def native(self) -> bool:
        return not self.ts.is_encapsulated


def _fallback(name: str) -> bytes:
    """A small MR-like file in the seed's transfer syntax, written by pydicom (no data folder)."""
    ts = _FALLBACK_SYNTAX[name]
    plane = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 251).astype(np.uint8)
    if ts == RLELossless:
        frame = bombs.rle_frame([_packbits(plane.tobytes())])
        return bombs.dicom_file([frame], ts, rows=64, cols=64)
    if ts == JPEG2000Lossless:
        return bombs.dicom_file([bytes(bombs.openjpeg.encode(plane))], ts, rows=64, cols=64)
    if ts == JPEGLSLossless:
        return bombs.dicom_file([bytes(bombs.charls.encode(plane))], ts, rows=64, cols=64)
    if ts == JPEGBaseline8Bit:
        buf = io.BytesIO()
        bombs.Image.fromarray(plane).save(buf, format="JPEG", quality=95)
        return bombs.dicom_file([buf.getvalue()], ts, rows=64, cols=64)
    try:
        return bombs.dicom_file([plane.tobytes()], ts, rows=64, cols=64)
    except Exception:  # a pydicom that no longer writes big endian
        return bombs.dicom_file([plane.tobytes()], ExplicitVRLittleEndian, rows=64, cols=64)


def _packbits(data: bytes) -> bytes:
    """RLE (PackBits) literal runs of ``data``: valid, if not small."""
    out = bytearray()
    for at in range(0, len(data), 128):
        chunk = data[at : at + 128]
        out += bytes([len(chunk) - 1]) + chunk
    return bytes(out)


def _pixel_span(data: bytes) -> tuple[int, int]:
    ds = pydicom.dcmread(io.BytesIO(data))
    value = ds.PixelData
    at = data.rfind(value)
    return (at, len(value)) if at >= 0 else (-1, 0)


@functools.cache
def seeds() -> dict[str, Seed]:
    out = {}
    for name, rel in SEED_FILES.items():
        path = DATA_DIR / "dicom" / rel
        data = path.read_bytes() if path.exists() else _fallback(name)
        ts = UID(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta.TransferSyntaxUID)
        at, length = _pixel_span(data)
        out[name] = Seed(name, data, ts, at, length)
    return out


# --- fresh UIDs -----------------------------------------------------------------------------------

_UID_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def _same_length_uid(old: str, key: str) -> str:
    digits = str(int.from_bytes(hashlib.sha256(key.encode()).digest(), "big"))
    digits += str(int.from_bytes(hashlib.sha256(digits.encode()).digest(), "big"))
    prefix = "2.25." if len(old) <= 44 else "1.2.826.0.1.3680043.8.498."
    body = ("1" + digits)[: max(len(old) - len(prefix), 1)]
    return prefix + body


def fresh(seed: Seed, key: str) -> bytes:
    """The seed with new Study/Series/SOP Instance UIDs derived from ``key`` (same lengths)."""
    ds = pydicom.dcmread(io.BytesIO(seed.data), stop_before_pixels=True)
    olds = [str(ds.get(k, "")) for k in _UID_KEYWORDS]
    data = seed.data
    if seed.ts == DeflatedExplicitVRLittleEndian:
        full = pydicom.dcmread(io.BytesIO(data))
        for keyword, old in zip(_UID_KEYWORDS, olds, strict=True):
            setattr(full, keyword, _same_length_uid(old, f"{key}/{keyword}"))
        full.file_meta.MediaStorageSOPInstanceUID = full.SOPInstanceUID
        buf = io.BytesIO()
        full.save_as(buf, enforce_file_format=True)
        return buf.getvalue()
    for keyword, old in zip(_UID_KEYWORDS, olds, strict=True):
        if old:
            data = data.replace(old.encode(), _same_length_uid(old, f"{key}/{keyword}").encode())
    return data


def sop_uid_of(data: bytes) -> str:
    try:
        return str(pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True).SOPInstanceUID)
    except Exception:
        return ""


# --- truncation and bit flips ------------------------------------------------------------------------


def truncated(seeds: dict[str, Seed]) -> list[HostileInput]:
    """Each seed cut in the preamble, the file meta, the dataset header, the pixel data and at its end.

    A native file cut anywhere is incomplete (its pixel data is short or gone): refused.
    An encapsulated one cut inside its last fragment or its sequence delimiter may still
    decode (a JPEG decoder fills a short scan): either.
    """
    out = []
    for seed in seeds.values():
        data = seed.data
        pixel_at = seed.pixel_at if seed.pixel_at > 0 else len(data) // 2
        cuts = {
            "in-meta": 150,
            "in-header": (132 + pixel_at) // 2,
            "in-pixels": pixel_at + max(seed.pixel_len // 3, 1),
            # Three bytes short of the pixel data's end (a trailing element would only be cut short).
            "end-of-pixels": (seed.pixel_at + seed.pixel_len - 3) if seed.pixel_at > 0 else len(data) - 3,
        }
        for label, cut in cuts.items():
            tail_of_codestream = not seed.native and label in ("in-pixels", "end-of-pixels")
            deflated = seed.ts == DeflatedExplicitVRLittleEndian
            out.append(
                HostileInput(
                    name=f"truncated/{seed.name}/{label}",
                    category="truncated",
                    data=fresh(seed, f"truncated/{seed.name}/{label}")[:cut],
                    expect="either" if tail_of_codestream or deflated else "reject",
                    filename=f"{seed.name}-{label}.dcm",
                )
            )
    return out


def _flip(data: bytes, positions: list[int], rng: np.random.Generator) -> bytes:
    out = bytearray(data)
    for at in positions:  # clamped: a rewritten deflated seed may come out a byte shorter
        out[min(at, len(out) - 1)] ^= 1 << int(rng.integers(0, 8))
    return bytes(out)


def bit_flipped(seeds: dict[str, Seed]) -> list[HostileInput]:
    """Bits flipped at seeded positions: in the file meta and dataset header (either: the flip may
    land in a value nobody checks), and in native pixel values (accept: any value is a valid pixel)
    or in a codestream (either)."""
    out = []
    for index, seed in enumerate(seeds.values()):
        rng = np.random.default_rng(1000 + index)
        data = seed.data
        header_end = seed.pixel_at - 12 if seed.pixel_at > 0 else len(data)
        plans: dict[str, tuple[list[int], str]] = {
            "meta-1": ([int(rng.integers(132, 200))], "either"),
            "header-1": ([int(rng.integers(200, header_end))], "either"),
            "header-8": (sorted(int(p) for p in rng.integers(132, header_end, 8)), "either"),
        }
        if seed.pixel_at > 0:
            # Past the fragments' item headers for an encapsulated file (the Basic Offset Table and
            # the first item tag sit in the first 16 bytes).
            start = seed.pixel_at + (0 if seed.native else 24)
            end = seed.pixel_at + seed.pixel_len - (0 if seed.native else 16)
            pixels = sorted(int(p) for p in rng.integers(start, end, 4))
            plans["pixels-4"] = (pixels, "accept" if seed.native else "either")
        for label, (positions, expect) in plans.items():
            out.append(
                HostileInput(
                    name=f"bit-flip/{seed.name}/{label}",
                    category="bit-flip",
                    data=_flip(fresh(seed, f"bit-flip/{seed.name}/{label}"), positions, rng),
                    expect=expect,  # type: ignore[arg-type]
                    filename=f"{seed.name}-flip-{label}.dcm",
                )
            )
    return out


# --- surgery on the explicit little endian seed -----------------------------------------------------


def _element_at(data: bytes, group: int, element: int) -> int:
    """Offset of an explicit-VR-little-endian element's tag in ``data``."""
    at = data.find(struct.pack("<HH", group, element), 132)
    assert at > 0, f"({group:04X},{element:04X}) not in the seed"
    return at


def _with_vr(data: bytes, group: int, element: int, vr: bytes) -> bytes:
    at = _element_at(data, group, element)
    return data[: at + 4] + vr + data[at + 6 :]


def _with_short_length(data: bytes, group: int, element: int, length: int) -> bytes:
    at = _element_at(data, group, element)
    return data[: at + 6] + struct.pack("<H", length) + data[at + 8 :]


def _rewritten(seed: Seed, key: str, change) -> bytes:
    ds: Dataset = pydicom.dcmread(io.BytesIO(fresh(seed, key)))
    change(ds)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def wrong_vr_and_length(seeds: dict[str, Seed]) -> list[HostileInput]:
    seed = seeds["mr-explicit"]
    base = fresh(seed, "vr-length")
    px = _element_at(base, 0x7FE0, 0x0010)
    (pixel_len,) = struct.unpack("<I", base[px + 8 : px + 12])

    def pixel_length(n: int) -> bytes:
        return base[: px + 8] + struct.pack("<I", n) + base[px + 12 :]

    cases: dict[str, tuple] = {
        # name: (bytes, expect, word the reason must hold[, known])
        "rows-vr-xx": (_with_vr(base, 0x0028, 0x0010, b"XX"), "either", ""),
        "rows-vr-ul": (_with_vr(base, 0x0028, 0x0010, b"UL"), "either", "", {}),
        "rows-vr-sq": (_with_vr(base, 0x0028, 0x0010, b"SQ"), "reject", ""),
        "rows-length-3": (_with_short_length(base, 0x0028, 0x0010, 3), "reject", ""),
        "rows-length-0": (_with_short_length(base, 0x0028, 0x0010, 0), "reject", ""),
        "modality-length-huge": (_with_short_length(base, 0x0008, 0x0060, 0xFFFE), "reject", ""),
        "uid-length-odd": (_with_short_length(base, 0x0008, 0x0018, 7), "reject", ""),
        "pixel-length-undefined": (pixel_length(0xFFFFFFFF), "reject", ""),
        "pixel-length-past-end": (pixel_length(pixel_len + 4096), "reject", ""),
        "pixel-length-short": (pixel_length(pixel_len - 2), "reject", "pixel"),
        "pixel-length-odd": (pixel_length(pixel_len - 1), "reject", ""),
        "meta-group-length-wrong": (
            base[:140] + struct.pack("<I", 0xFFFF) + base[144:],
            "either",
            "",
        ),
        "ts-says-implicit": (
            base.replace(str(ExplicitVRLittleEndian).encode() + b"\x00", b"1.2.840.10008.1.2\x00\x00\x00", 1),
            "either",  # pydicom sees the explicit VRs and reads it right
            "",
        ),
        "ts-says-jpeg-ls": (
            base.replace(str(ExplicitVRLittleEndian).encode() + b"\x00", b"1.2.840.10008.1.2.4.80", 1),
            "reject",
            "",
        ),
        "ts-unknown": (
            base.replace(str(ExplicitVRLittleEndian).encode() + b"\x00", b"1.2.3.4.5.6.7.8.9.10.1", 1),
            "reject",
            "",
        ),
        "bits-allocated-vr-fd": (_with_vr(base, 0x0028, 0x0100, b"FD"), "either", "", {}),
    }
    return [
        HostileInput(
            name=f"vr-length/{label}",
            category="vr-length",
            data=data,
            expect=expect,
            reason_has=word,
            filename=f"{label}.dcm",
            known=known[0] if known else {},
        )
        for label, (data, expect, word, *known) in cases.items()
    ]


def dimensions(seeds: dict[str, Seed]) -> list[HostileInput]:
    """Absurd and inconsistent geometry, set through pydicom on the 64 x 64 16-bit MR seed."""
    seed = seeds["mr-explicit"]

    def setting(**values):
        def change(ds: Dataset) -> None:
            for keyword, value in values.items():
                setattr(ds, keyword, value)

        return change

    cases = {
        "rows-0": (setting(Rows=0), "reject", "no pixels"),
        "columns-0": (setting(Columns=0), "reject", "no pixels"),
        "rows-columns-max": (setting(Rows=65535, Columns=65535), "reject", "limit"),
        "rows-doubled": (setting(Rows=128), "reject", "pixel"),
        "rows-halved": (setting(Rows=32), "either", ""),
        "frames-0": (setting(NumberOfFrames=0), "either", ""),
        "frames-negative": (setting(NumberOfFrames=-1), "reject", "frames"),
        "frames-2-data-for-1": (setting(NumberOfFrames=2), "reject", "pixel"),
        "frames-huge": (setting(NumberOfFrames=10_000_000), "reject", "limit"),
        "bits-allocated-0": (setting(BitsAllocated=0), "reject", ""),
        "bits-allocated-7": (setting(BitsAllocated=7), "reject", ""),
        "bits-allocated-64": (setting(BitsAllocated=64, BitsStored=64, HighBit=63), "reject", ""),
        "bits-stored-over-allocated": (setting(BitsStored=32, HighBit=31), "reject", ""),
        "samples-0": (setting(SamplesPerPixel=0), "reject", "samples"),
        "samples-3-on-mono-data": (
            setting(SamplesPerPixel=3, PlanarConfiguration=0, PhotometricInterpretation="RGB"),
            "reject",
            "",
        ),
        "samples-4": (setting(SamplesPerPixel=4), "reject", ""),
        "photometric-nonsense": (setting(PhotometricInterpretation="HSV<script>"), "either", ""),
        "pixel-representation-2": (setting(PixelRepresentation=2), "either", ""),
        "planar-configuration-5": (setting(PlanarConfiguration=5), "either", ""),
        "no-pixel-data": (lambda ds: delattr(ds, "PixelData"), "reject", "no pixel data"),
        "no-rows": (lambda ds: delattr(ds, "Rows"), "reject", "rows"),
        "no-sop-instance-uid": (lambda ds: delattr(ds, "SOPInstanceUID"), "reject", "uid"),
    }
    return [
        HostileInput(
            name=f"dimensions/{label}",
            category="dimensions",
            data=_rewritten(seed, f"dimensions/{label}", change),
            expect=expect,  # type: ignore[arg-type]
            reason_has=word,
            filename=f"{label}.dcm",
        )
        for label, (change, expect, word) in cases.items()
    ]


_PLACEHOLDER = "7.5311"  # a DS value found nowhere else in the seed, replaced byte for byte


def rescale(seeds: dict[str, Seed]) -> list[HostileInput]:
    """Rescale slope/intercept and window values that are not finite numbers.

    A NaN or infinite rescale makes every pixel NaN or infinite: such a file must be refused
    (or its rescale ignored with a warning), never scored. Today it is accepted and predicted.
    """
    seed = seeds["mr-explicit"]
    cases = {
        "slope-nan": ("RescaleSlope", "NaN   ", "reject"),
        "slope-inf": ("RescaleSlope", "inf   ", "reject"),
        "slope-minus-inf": ("RescaleSlope", "-inf  ", "reject"),
        "slope-overflow": ("RescaleSlope", "1e400 ", "reject"),
        "intercept-nan": ("RescaleIntercept", "nan   ", "reject"),
        "intercept-inf": ("RescaleIntercept", "+Inf  ", "reject"),
        "window-width-nan": ("WindowWidth", "NaN   ", "either"),
        "window-center-inf": ("WindowCenter", "inf   ", "either"),
        "slope-zero": ("RescaleSlope", "0     ", "either"),
        "slope-not-a-number": ("RescaleSlope", "abc\xff  ", "either"),
    }
    out = []
    for label, (keyword, value, expect) in cases.items():

        def change(ds: Dataset, keyword: str = keyword) -> None:
            setattr(ds, keyword, _PLACEHOLDER)

        data = _rewritten(seed, f"rescale/{label}", change)
        assert data.count(_PLACEHOLDER.encode()) == 1
        data = data.replace(_PLACEHOLDER.encode(), value.encode("latin-1"))
        nonfinite = expect == "reject"
        out.append(
            HostileInput(
                name=f"rescale/{label}",
                category="rescale",
                data=data,
                expect=expect,  # type: ignore[arg-type]
                reason_has="rescale" if nonfinite else "",
                filename=f"{label}.dcm",
            )
        )
    return out


# --- bombs -----------------------------------------------------------------------------------------


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
