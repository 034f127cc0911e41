"""Plain images: JPEG/PNG stored without metadata (image data untouched), others re-encoded to PNG."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from oncocore.imaging import DeidOptions, Prepared, Rejected, SourceFile, prepare

KEY = b"plain-image-tests"
NAME = "Jane Q. Patient"


def _prepare(data: bytes, limits, name: str = "image") -> Prepared:
    return prepare(SourceFile(name, data), limits=limits, deid=DeidOptions(), pseudonym_key=KEY)


def _first_jpeg(data_path, folder: str):
    root = data_path(folder)
    return next(p for p in sorted(root.rglob("*")) if p.suffix.lower() in (".jpg", ".jpeg"))


@pytest.mark.parametrize("folder", ["brain_mri/train", "lung_ct/train", "histo_lung/train"])
def test_sample_jpegs_prepare(folder, data_path, limits):
    path = _first_jpeg(data_path, folder)
    original = path.read_bytes()
    p = _prepare(original, limits, path.name)
    with Image.open(path) as im:
        width, height = im.size
        expected = np.asarray(im.convert("RGB" if p.samples_per_pixel == 3 else "L"))
    assert (p.kind, p.stored_ext, p.modality, p.frames) == ("image", ".jpg", "", 1)
    assert (p.cols, p.rows) == (width, height)
    assert p.sha256 != p.stored_sha256 or p.stored_bytes == original
    assert p.study_instance_uid is None and p.patient_pseudonym is None
    stored = Image.open(io.BytesIO(p.stored_bytes))
    assert stored.format == "JPEG"
    # Only metadata segments went: the decoded pixels are identical.
    assert np.array_equal(np.asarray(stored.convert((expected.ndim == 3 and "RGB") or "L")), expected)
    assert max(Image.open(io.BytesIO(p.thumbnail_png)).size) == 160


def test_jpeg_exif_and_comment_stripped(data_path, limits):
    with Image.open(_first_jpeg(data_path, "brain_mri/train")) as im:
        pixels = im.convert("RGB")
    exif = Image.Exif()
    exif[0x013B] = NAME  # Artist
    exif[0x010E] = f"Scan of {NAME}"  # ImageDescription
    buf = io.BytesIO()
    pixels.save(buf, "JPEG", quality=90, exif=exif.tobytes(), comment=f"patient {NAME}".encode())
    tagged = buf.getvalue() + b"trailing " + NAME.encode()  # vendor data after EOI
    assert tagged.count(NAME.encode()) == 4

    p = _prepare(tagged, limits, "tagged.jpg")
    assert NAME.encode() not in p.stored_bytes
    assert p.stored_bytes.endswith(b"\xff\xd9")
    removed = p.header["Removed metadata"]
    assert any(r.startswith("APP1") for r in removed) and "COM" in removed
    a = np.asarray(Image.open(io.BytesIO(tagged)).convert("RGB"))
    b = np.asarray(Image.open(io.BytesIO(p.stored_bytes)).convert("RGB"))
    assert np.array_equal(a, b)  # entropy-coded data untouched


def _segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(body) + 2) + body


def _insert_after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


def test_jpeg_app_segments_and_icc_profile_go(limits):
    """APP0 keeps only JFIF's numbers (no thumbnail), APP14 only the transform flag, ICC and APPn go."""
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = np.random.default_rng(1).integers(0, 255, (16, 32, 3), dtype=np.uint8)
    for transform in (0, 1):  # Adobe RGB and YCbCr: decoding depends on the flag kept
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", icc_profile=icc, quality=95)
        canary = b"CANARY-APP-" + NAME.encode()
        jfif_thumb = b"JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x02\x01" + canary[:6]  # 2x1 RGB thumbnail
        tagged = _insert_after_soi(
            buf.getvalue(),
            _segment(0xE0, jfif_thumb),
            _segment(0xEE, b"Adobe" + struct.pack(">HHHB", 101, 0x8000, 1, transform) + canary),
            _segment(0xE3, canary),
            _segment(0xEF, canary),
            _segment(0xFE, canary),
        )
        original = Image.open(io.BytesIO(tagged))
        before, density = np.asarray(original.convert("RGB")), original.info.get("jfif_density")
        p = _prepare(tagged, limits, "app.jpg")
        assert canary not in p.stored_bytes and canary[:6] not in p.stored_bytes
        stored = Image.open(io.BytesIO(p.stored_bytes))
        assert stored.info.get("icc_profile") is None and b"ICC_PROFILE" not in p.stored_bytes
        assert stored.info.get("adobe_transform") == transform
        assert stored.info.get("jfif_density") == density
        assert np.array_equal(np.asarray(stored.convert("RGB")), before)  # pixels untouched
        removed = p.header["Removed metadata"]
        assert {"APP0", "APP2", "APP3", "APP14", "APP15", "COM"} <= set(removed)


def test_png_private_chunks_and_iccp_go(limits):
    """Only chunks that hold no text stay: iCCP (its name), sPLT, private and unknown chunks go."""
    import zlib

    from PIL import ImageCms

    def chunk(ctype: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))

    canary = b"CANARYPNG" + NAME.encode()
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = np.random.default_rng(2).integers(0, 255, (12, 20, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG", dpi=(96, 96))
    plain = buf.getvalue()
    ihdr_end = 8 + 25
    extra = (
        chunk(b"iCCP", canary[:40] + b"\x00\x00" + zlib.compress(icc))
        + chunk(b"prVt", canary)
        + chunk(b"sPLT", canary[:40] + b"\x00\x08")
        + chunk(b"tIME", b"\x07\xe8\x01\x01\x00\x00\x00")
        + chunk(b"eXIf", canary)
    )
    tagged = plain[:ihdr_end] + extra + plain[ihdr_end:]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(tagged)).convert("RGB")), rgb)
    p = _prepare(tagged, limits, "chunks.png")
    assert canary[:9] not in p.stored_bytes
    for ctype in (b"iCCP", b"prVt", b"sPLT", b"tIME", b"eXIf"):
        assert ctype not in p.stored_bytes
    assert b"pHYs" in p.stored_bytes  # numbers only: kept
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(p.stored_bytes)).convert("RGB")), rgb)
    assert {"iCCP", "sPLT", "tIME", "eXIf", "private chunk"} <= set(p.header["Removed metadata"])


def test_reencoded_image_drops_icc_profile(limits):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "TIFF", icc_profile=icc)
    p = _prepare(buf.getvalue(), limits, "icc.tif")
    assert Image.open(io.BytesIO(p.stored_bytes)).info.get("icc_profile") is None


def test_png_text_chunks_stripped(limits):
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", NAME)
    info.add_itxt("Description", f"scan of {NAME}")
    info.add_text("Comment", NAME, zip=True)
    buf = io.BytesIO()
    grey16 = Image.fromarray(np.linspace(0, 4095, 40 * 30).reshape(30, 40).astype(np.uint16))
    grey16.save(buf, "PNG", pnginfo=info)
    p = _prepare(buf.getvalue(), limits, "scan.png")
    assert NAME.encode() not in p.stored_bytes and b"Author" not in p.stored_bytes
    assert (p.stored_ext, p.bits_stored, p.samples_per_pixel) == (".png", 16, 1)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(p.stored_bytes))), np.asarray(grey16))
    display = np.asarray(Image.open(io.BytesIO(p.display_pngs[0])))
    assert display.dtype == np.uint8 and display.min() == 0 and display.max() == 255


def test_tiff_becomes_png(limits):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "TIFF", description=f"slide of {NAME}")
    assert NAME.encode() in buf.getvalue()
    p = _prepare(buf.getvalue(), limits, "slide.tif")
    assert p.stored_ext == ".png" and p.stored_bytes.startswith(b"\x89PNG")
    assert NAME.encode() not in p.stored_bytes
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(p.stored_bytes))), rgb)  # lossless
    assert (p.cols, p.rows, p.photometric) == (30, 20, "RGB")


def test_multipage_tiff_rejected(limits):
    buf = io.BytesIO()
    pages = [Image.new("L", (8, 8), v) for v in (0, 128)]
    pages[0].save(buf, "TIFF", save_all=True, append_images=pages[1:])
    with pytest.raises(Rejected, match="multi-page"):
        _prepare(buf.getvalue(), limits, "stack.tif")
