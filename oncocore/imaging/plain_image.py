"""Plain images (JPEG, PNG, TIFF and a few others): strip metadata, check size, render.

JPEG and PNG are stored as the original bytes minus their metadata segments, so
the compressed image data is untouched (no generation loss):

* JPEG: COM and every APPn segment are dropped, except two that are rewritten
  from the few fields decoding reads: APP0 JFIF (version, density units and
  values; its thumbnail, a picture of its own, goes) and APP14 Adobe (the
  colour transform flag, which says whether 3 components are YCbCr or RGB;
  the version and flag words are zeroed). The ICC profile (APP2) goes: its
  description, copyright and any private tags are free text, and decoding to
  pixel values does not read it. Bytes after EOI are dropped.
* PNG: an allow-list. The critical chunks (IHDR, PLTE, IDAT, IEND) and the
  ancillary chunks that hold no text (tRNS, gAMA, cHRM, sRGB, sBIT, pHYs,
  bKGD) stay; everything else goes: tEXt, zTXt, iTXt, eXIf, tIME, sPLT (a
  named palette), iCCP (a free-text profile name and profile), private and
  unknown chunks. Bytes after IEND go too.

Everything else PIL can read (TIFF, BMP, GIF, WebP) is re-encoded losslessly to
PNG, which carries no text metadata and no ICC profile. Dimensions are read from the headers and
checked against the limits before any pixel is decoded.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import Rejected
from .jpeg_markers import SOS, Walk, is_metadata, minimal_segment, segments
from .limits import Limits

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG chunks kept: decoding needs the critical ones; these ancillary ones carry numbers only.
_PNG_KEEP = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",
    b"tRNS",
    b"gAMA",
    b"cHRM",
    b"sRGB",
    b"sBIT",
    b"pHYs",
    b"bKGD",
}
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PIL_FORMATS = {"tiff": "TIFF", "bmp": "BMP", "gif": "GIF", "webp": "WEBP"}
# Modes PNG stores losslessly as they are.
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"}


def image_format(data: bytes) -> str | None:
    """'jpeg', 'png', 'tiff', 'bmp', 'gif' or 'webp' by magic bytes, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == _PNG_SIGNATURE:
        return "png"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if data[:2] == b"BM" and len(data) > 26:
        return "bmp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass
class PlainImage:
    stored_bytes: bytes
    stored_ext: str
    width: int
    height: int
    pixels: np.ndarray  # decoded from stored_bytes: (H,W) grey or (H,W,3) RGB
    bits_stored: int
    header: dict
    warnings: list[str] = field(default_factory=list)


def _check_size(width: int, height: int, limits: Limits) -> None:
    if width <= 0 or height <= 0:
        raise Rejected(f"image has no pixels: {width}x{height}")
    if width * height > limits.max_pixels_per_frame:
        raise Rejected(f"image is {width}x{height}, over the {limits.megapixel_text()} limit")


_JPEG_WALK = Walk(
    truncated="corrupt JPEG: truncated segment",
    missing="corrupt JPEG: truncated or missing marker",
    stray="corrupt JPEG: truncated or missing marker",
    scan="corrupt JPEG: truncated scan data",
    lenient_end=False,
)


def strip_jpeg(data: bytes, limits: Limits) -> tuple[bytes, list[str]]:
    """The JPEG without identifying segments, and the names of what was dropped."""
    out, dropped, size = bytearray(b"\xff\xd8"), [], None
    for seg in segments(data, _JPEG_WALK):
        if seg.marker in _JPEG_SOF:
            if len(seg.body) < 5:
                raise Rejected("corrupt JPEG: short frame header")
            height, width = struct.unpack(">HH", seg.body[1:5])
            _check_size(width, height, limits)  # before anything is decoded
            size = (width, height)
        if seg.marker == SOS and size is None:
            raise Rejected("corrupt JPEG: scan before frame header")
        if is_metadata(seg.marker):
            minimal = minimal_segment(seg.marker, seg.body)
            if minimal is not None:
                out += minimal
            if minimal is None or len(minimal) < len(seg.raw):  # something was cut
                dropped.append(_segment_label(seg.marker, seg.body))
        else:
            out += seg.raw + seg.scan
    if size is None:
        raise Rejected("corrupt JPEG: no frame header")
    return bytes(out), dropped


# APPn identifiers we name in the header; anything else is reported by number only,
# because a segment's first bytes may themselves be identifying text.
_APP_IDENTIFIERS = (
    b"Exif",
    b"http://ns.adobe.com/xap/1.0/",
    b"Photoshop 3.0",
    b"MPF",
    b"Ducky",
    b"JFXX",
    b"FLIR",
)


def _segment_label(marker: int, body: bytes) -> str:
    if marker == 0xFE:
        return "COM"
    ident = next((i for i in _APP_IDENTIFIERS if body.startswith(i)), None)
    label = f"APP{marker - 0xE0}"
    return f"{label} ({ident.decode('ascii')})" if ident else label


def strip_png(data: bytes, limits: Limits) -> tuple[bytes, list[str]]:
    """The PNG with only the chunks of ``_PNG_KEEP``, and the names of what was dropped."""
    out, dropped, pos, first = bytearray(_PNG_SIGNATURE), [], len(_PNG_SIGNATURE), True
    while True:
        if pos + 12 > len(data):
            raise Rejected("corrupt PNG: truncated (no IEND chunk)")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            raise Rejected("corrupt PNG: truncated chunk")
        if first:
            if ctype != b"IHDR" or length != 13:
                raise Rejected("corrupt PNG: missing IHDR")
            width, height = struct.unpack(">II", data[pos + 8 : pos + 16])
            _check_size(width, height, limits)  # before anything is decoded
            first = False
        if ctype in _PNG_KEEP:
            out += data[pos:end]
        else:
            # A private chunk's type is four letters of the writer's choosing: report only
            # public (upper-case second letter) types by name.
            public = ctype.isalpha() and ctype[1:2].isupper()
            dropped.append(ctype.decode("ascii") if public else "private chunk")
        pos = end
        if ctype == b"IEND":
            return bytes(out), dropped


def _open(data: bytes, limits: Limits) -> Image.Image:
    try:
        # PIL itself refuses far larger images (DecompressionBombError); our own
        # limit is checked on the header right below, still before decoding.
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise Rejected(f"image is over the {limits.megapixel_text()} limit") from None
    except UnidentifiedImageError:
        raise Rejected("corrupt or unsupported image: the image data cannot be read") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise Rejected(f"corrupt or unsupported image: {exc}") from None
    _check_size(*im.size, limits)
    return im


def _reencode_png(im: Image.Image) -> tuple[bytes, list[str]]:
    """Lossless PNG of ``im`` with no text metadata."""
    notes: list[str] = []
    if im.mode in ("I", "I;16B", "I;16L", "I;16S", "I;16N"):
        arr = np.asarray(im)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise Rejected("pixel values outside 0..65535 cannot be stored losslessly as PNG")
        im = Image.fromarray(arr.astype("<u2"), mode="I;16")
    elif im.mode == "F":
        raise Rejected("floating-point images are not supported")
    elif im.mode not in _PNG_MODES:
        notes.append(f"{im.mode} image converted to RGB")
        im = im.convert("RGBA" if "A" in im.mode else "RGB")
    buf = io.BytesIO()
    # icc_profile=None: PIL would copy the source profile, whose description is free text.
    im.save(buf, format="PNG", icc_profile=None)
    return buf.getvalue(), notes


def _display_pixels(im: Image.Image) -> tuple[np.ndarray, int]:
    """(H,W) grey or (H,W,3) RGB array for rendering, and its bit depth."""
    if im.mode.startswith("I"):
        return np.asarray(im).astype(np.uint16 if im.mode.startswith("I;16") else np.int32), 16
    if im.mode in ("1", "L", "LA"):
        return np.asarray(im.convert("L")), 8
    return np.asarray(im.convert("RGB")), 8


def prepare_plain_image(data: bytes, fmt: str, limits: Limits) -> PlainImage:
    """Strip or re-encode ``data`` (format ``fmt`` from :func:`image_format`) and decode it for display."""
    notes: list[str] = []
    if fmt == "jpeg":
        stored, dropped = strip_jpeg(data, limits)
        ext = ".jpg"
        notes += _orientation_note(data)
    elif fmt == "png":
        stored, dropped = strip_png(data, limits)
        ext = ".png"
    else:
        source = _open(data, limits)
        if getattr(source, "n_frames", 1) > 1:
            raise Rejected("multi-page or animated images are not supported: upload one image per file")
        try:
            source.load()
        except (OSError, ValueError, SyntaxError) as exc:
            raise Rejected(f"corrupt image: {exc}") from None
        stored, notes = _reencode_png(source)
        dropped, ext = ["all metadata (re-encoded as PNG)"], ".png"
    im = _open(stored, limits)
    try:
        im.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise Rejected(f"corrupt image: {exc}") from None
    pixels, bits = _display_pixels(im)
    header = {"Format": fmt.upper(), "Mode": im.mode, "Width": im.size[0], "Height": im.size[1]}
    if dropped:
        header["Removed metadata"] = dropped
    return PlainImage(stored, ext, im.size[0], im.size[1], pixels, bits, header, notes)


def _orientation_note(data: bytes) -> list[str]:
    """Stripping EXIF drops its orientation flag; say so when it asked for a rotation."""
    try:
        orientation = Image.open(io.BytesIO(data)).getexif().get(0x0112, 1)
    except Exception:  # unreadable EXIF is simply not there for us
        return []
    if orientation in (None, 1):
        return []
    return [f"EXIF orientation {orientation} dropped with the metadata: shown as encoded, not rotated"]
