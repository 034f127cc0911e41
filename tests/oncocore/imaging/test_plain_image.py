"""Plain images: JPEG/PNG stored without metadata (image data untouched), others re-encoded to PNG."""

from __future__ import annotations

import io

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


def test_jpeg_keeps_icc_profile(limits):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    Image.new("RGB", (32, 16), (200, 30, 30)).save(buf, "JPEG", icc_profile=icc)
    p = _prepare(buf.getvalue(), limits, "icc.jpg")
    assert Image.open(io.BytesIO(p.stored_bytes)).info.get("icc_profile") == icc


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
