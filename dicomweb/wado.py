"""WADO-RS (PS3.18 §10.4): what is retrieved, and how its bytes are made. Views stay thin.

Instances are the stored, de-identified files, never transcoded. Reads are
scoped by ``case_list_for_user``: another site's object is not found.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pydicom
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import Http404
from PIL import Image as PILImage
from pydicom.pixels import pixel_array
from pydicom.uid import UID

from cases.models import Image, ImageKind, User
from cases.selectors import case_list_for_user
from dicomweb.dicom_json import attribute
from oncocore.imaging import Limits, Rejected
from oncocore.imaging.dicom_io import read_geometry
from oncocore.imaging.frame_check import check_frames

CHUNK_BYTES = 1024 * 1024
DICOM = "application/dicom"
OCTET = "application/octet-stream"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
PIXEL_DATA = "7FE00010"


class NotAcceptable(Exception):
    """The Accept header names nothing this resource can produce; the message says why."""


class BadFrameList(ValueError):
    """A frame list that is not 1-based frame numbers of the instance."""


# --- Accept ------------------------------------------------------------------------------


@dataclass
class MediaRange:
    type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    def matches(self, media_type: str) -> bool:
        if self.type in ("*/*", media_type):
            return True
        return self.type.endswith("/*") and media_type.startswith(self.type[:-1])


def parse_accept(header: str) -> list[MediaRange]:
    """The media ranges of an Accept header, most preferred first; a missing header accepts anything."""
    ranges: list[MediaRange] = []
    for item in _split_outside_quotes(header or "*/*", ","):
        pieces = _split_outside_quotes(item, ";")
        media = pieces[0].strip().lower()
        if not media:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for piece in pieces[1:]:
            key, _, value = piece.partition("=")
            key, value = key.strip().lower(), value.strip().strip('"')
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            elif key:
                params[key] = value
        if q > 0:
            ranges.append(MediaRange(media, params, q))
    return sorted(ranges, key=lambda r: -r.q)  # stable: equal q keep their order


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    out: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(char)
    out.append("".join(current))
    return out


def negotiate_multipart(header: str, part_type: str, syntaxes: set[str]) -> None:
    """Check that ``multipart/related; type=part_type`` with the stored ``syntaxes`` is acceptable.

    ``transfer-syntax=*`` or none means the stored syntax; any other value must be
    the stored syntax of every instance (nothing is transcoded).
    """
    reasons = []
    for media in parse_accept(header):
        if media.type == "*/*" or (media.type == "multipart/related" and "type" not in media.params):
            return
        if media.type == "multipart/related" and MediaRange(media.params["type"].lower()).matches(part_type):
            wanted = media.params.get("transfer-syntax", "*")
            if wanted == "*" or syntaxes <= {wanted}:
                return
            reasons.append(
                f"transfer-syntax={wanted} (stored as {', '.join(sorted(syntaxes))}; nothing is transcoded: "
                f"ask for transfer-syntax=* or leave it out)"
            )
        else:
            reasons.append(_describe(media))
    raise NotAcceptable(
        f'This resource is multipart/related; type="{part_type}" only; not acceptable: {"; ".join(reasons)}.'
    )


def negotiate(header: str, offered: list[str]) -> str:
    """The first media type of ``offered`` (server preference on ties) the Accept header allows."""
    for media in parse_accept(header):
        for media_type in offered:
            if media.matches(media_type):
                return media_type
    raise NotAcceptable(
        f"This resource is available as {' or '.join(offered)}; not as {header or 'nothing'}."
    )


def _describe(media: MediaRange) -> str:
    params = "".join(f'; {k}="{v}"' for k, v in media.params.items())
    return f"{media.type}{params}"


# --- What is retrieved --------------------------------------------------------------------


def instances_for_user(
    *,
    user: User,
    study: str,
    series: str | None = None,
    instance: str | None = None,
    missing_ok: bool = False,
) -> QuerySet[Image]:
    """The images of a study / series / instance the user may see, in series and instance order.

    404 if none, unless ``missing_ok`` (the caller also looks for result objects: ``dicomweb.results``).
    """
    qs = Image.objects.filter(
        case__in=case_list_for_user(user=user).values("pk"), series__study__study_instance_uid=study
    ).select_related("series", "series__study")
    if series is not None:
        qs = qs.filter(series__series_instance_uid=series)
    if instance is not None:
        qs = qs.filter(sop_instance_uid=instance)
    qs = qs.order_by("series__series_number", "series_id", "instance_number", "pk")
    if not missing_ok and not qs.exists():
        raise Http404("No such study, series or instance.")
    return qs


def dicom_files(images: Iterable[Image]) -> tuple[list[Image], int]:
    """The images that have a stored DICOM file, and how many were plain-image uploads (skipped)."""
    kept = [image for image in images if image.kind == ImageKind.DICOM and image.file.name]
    return kept, sum(1 for image in images if image.kind != ImageKind.DICOM)


# --- multipart/related bodies ----------------------------------------------------------------


def new_boundary() -> str:
    return uuid.uuid4().hex


def multipart_body(
    parts: Iterable[tuple[str, Callable[[], Iterator[bytes]]]], boundary: str
) -> Iterator[bytes]:
    """A multipart/related body, streamed: ``parts`` are (content type, a function giving its chunks)."""
    for content_type, chunks in parts:
        yield f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode()
        yield from chunks()
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def bytes_part(data: bytes) -> Callable[[], Iterator[bytes]]:
    return lambda: iter([data])


def file_chunks(name: str) -> Callable[[], Iterator[bytes]]:
    def read() -> Iterator[bytes]:
        with default_storage.open(name, "rb") as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk

    return read


def instance_parts(images: list[Image]) -> Iterator[tuple[str, Callable[[], Iterator[bytes]]]]:
    for image in images:
        syntax = image.transfer_syntax_uid or EXPLICIT_LE
        yield f'{DICOM}; transfer-syntax="{syntax}"', file_chunks(image.file.name)


# --- Metadata ---------------------------------------------------------------------------------


def metadata_of(image: Image, frames_url: Callable[[Image], str]) -> dict[str, Any]:
    """One instance in the DICOM JSON Model: the stored header; pixel data as a BulkDataURI to its frames."""
    if image.kind != ImageKind.DICOM:
        return _plain_image_metadata(image)
    with default_storage.open(image.file.name, "rb") as handle:
        ds = pydicom.dcmread(handle, stop_before_pixels=True)
    out: dict[str, Any] = ds.to_json_dict(suppress_invalid_tags=True)
    pixel_vr = "OW" if (image.bits_stored or 8) > 8 and not _compressed(image) else "OB"
    out[PIXEL_DATA] = {"vr": pixel_vr, "BulkDataURI": frames_url(image)}
    return dict(sorted(out.items()))


def _plain_image_metadata(image: Image) -> dict[str, Any]:
    """A plain-image upload has no DICOM header: the attributes the platform keeps for it."""
    study = image.series.study
    out = {
        "00080016": attribute("UI", image.sop_class_uid or None),
        "00080018": attribute("UI", image.sop_instance_uid),
        "00080060": attribute("CS", image.series.modality or None),
        "0020000D": attribute("UI", study.study_instance_uid),
        "0020000E": attribute("UI", image.series.series_instance_uid),
        "00200013": attribute("IS", image.instance_number),
        "00280002": attribute("US", image.samples_per_pixel),
        "00280004": attribute("CS", image.photometric or None),
        "00280008": attribute("IS", image.frames),
        "00280010": attribute("US", image.rows),
        "00280011": attribute("US", image.cols),
    }
    return out


def _compressed(image: Image) -> bool:
    try:
        return bool(UID(image.transfer_syntax_uid or EXPLICIT_LE).is_compressed)
    except ValueError:
        return True


# --- Frames -----------------------------------------------------------------------------------


def frame_numbers(text: str, image: Image) -> list[int]:
    """``1,3,5`` → [1, 3, 5]; BadFrameList for anything else or a number out of 1..frames."""
    numbers = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece.isdigit():
            raise BadFrameList(f"'{piece}' is not a frame number: give 1-based numbers, comma-separated.")
        number = int(piece)
        if not 1 <= number <= image.frames:
            raise BadFrameList(
                f"Frame {number} is out of range: this instance has frames 1 to {image.frames}."
            )
        numbers.append(number)
    return numbers


def frame_bytes(image: Image, numbers: list[int]) -> list[bytes]:
    """The frames' pixel bytes, uncompressed (Explicit VR Little Endian layout), decoded from the stored file.

    Uncompressed files give their frames as stored (planar configuration kept);
    compressed ones are decoded with pydicom (samples interleaved, colour as decoded).
    """
    with default_storage.open(image.file.name, "rb") as handle:
        ds = pydicom.dcmread(handle)
    syntax = ds.file_meta.TransferSyntaxUID
    if not syntax.is_compressed and syntax.is_little_endian:
        raw = ds.PixelData
        if (ds.BitsAllocated or 8) < 8:
            return [ds.pixel_array.reshape(image.frames, -1)[n - 1].tobytes() for n in numbers]
        size = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * (int(ds.BitsAllocated) // 8)
        return [bytes(raw[(n - 1) * size : n * size]) for n in numbers]
    limits = Limits()
    out = []
    for n in numbers:
        try:
            # The same pre-decode check as every other decode: the codestream must be Rows x Columns.
            check_frames(ds, read_geometry(ds, limits), limits, index=n - 1)
        except Rejected as exc:
            raise Http404(f"The pixel data of this instance cannot be decoded: {exc.reason}") from None
        # One frame at a time (not ds.pixel_array): memory stays at one decoded frame.
        array = pixel_array(ds, index=n - 1) if image.frames > 1 else pixel_array(ds)
        out.append(array.astype(array.dtype.newbyteorder("<")).tobytes())
    return out


# --- Rendered ----------------------------------------------------------------------------------

RENDERED_TYPES = ["image/jpeg", "image/png"]  # JPEG first: PS3.18's default for a single frame


def rendered(image: Image, frame: int | None, media_type: str) -> bytes:
    """The stored display PNG of ``frame`` (0-based; None: the instance's key frame), as PNG or JPEG."""
    name = image.display.name if frame is None else image.display_name(frame)
    try:
        with default_storage.open(name, "rb") as handle:
            png = handle.read()
    except FileNotFoundError:
        raise Http404("This rendering is not available.") from None
    if media_type == "image/png":
        return png
    picture: PILImage.Image = PILImage.open(io.BytesIO(png))
    if picture.mode not in ("L", "RGB"):
        picture = picture.convert("RGB")
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=90)
    return out.getvalue()
