"""DICOM inputs of the corpus: truncated and bit-flipped files (wrong VRs and lengths, absurd
dimensions and NaN/inf rescale values are in ``dicom_surgery``, the codestream and deflate bombs in
``dicom_bombs``).

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
from dataclasses import dataclass

import numpy as np
import pydicom
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
