"""DICOM inputs of the corpus made by surgery on the explicit little endian seed: wrong VRs and
lengths, absurd dimensions, NaN/inf rescale values (the seeds and fresh UIDs are ``dicom_inputs``')."""

from __future__ import annotations

import io
import struct

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

from tests.corpus.dicom_inputs import Seed, fresh
from tests.corpus.model import HostileInput


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
