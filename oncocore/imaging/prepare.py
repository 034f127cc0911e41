"""The intake entry point: one uploaded file -> everything to store, or a one-line rejection.

:func:`prepare` never raises anything but :class:`~.errors.Rejected`. For DICOM
it sniffs, validates the header and limits, de-identifies, writes a Part 10
file (original transfer syntax, fresh file meta, image data untouched: only
COM/APPn segments inside JPEG frames go, see :mod:`.frame_metadata`), then
re-reads *that stored file* to decode and render, so what we show is what we
keep. Plain images are stripped of metadata (JPEG/PNG) or re-encoded to PNG.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import logging
from dataclasses import dataclass, field
from typing import Literal

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID

from ..routing import FIELDS as ROUTING_FIELDS
from .archive import SourceFile, archive_kind
from .deid import DeidOptions, deidentify, is_own_pseudonym, pseudonym_for
from .dicom_io import (
    Geometry,
    check_decodable,
    check_is_image,
    check_rescale,
    check_uids,
    has_dicom_preamble,
    looks_like_bare_dataset,
    read_dataset,
    read_geometry,
    transfer_syntax_of,
    write_part10,
)
from .dicom_pixels import render_dicom
from .errors import Rejected, one_line
from .frame_metadata import strip_frame_metadata
from .header import header_dict
from .identity import identity_of
from .limits import Limits
from .plain_image import image_format, prepare_plain_image
from .render import choose_window, png_bytes, render_frame, thumbnail_png

logger = logging.getLogger(__name__)

__all__ = ["NO_PATIENT_ID_ISSUER", "Prepared", "prepare"]

# The pseudonym of a file without a Patient ID is keyed on its study under this issuer.
NO_PATIENT_ID_ISSUER = "oncoportal:no-patient-id:study"


@dataclass
class Prepared:
    """Everything the intake service stores for one accepted file."""

    kind: Literal["dicom", "image"]
    source_name: str
    sha256: str  # of the ORIGINAL uploaded bytes (idempotency key)
    stored_bytes: bytes  # de-identified Part 10 file, or the stripped/re-encoded image
    stored_ext: str  # '.dcm', '.jpg', '.png'
    stored_sha256: str
    study_instance_uid: str | None
    series_instance_uid: str | None
    sop_instance_uid: str | None
    sop_class_uid: str | None
    transfer_syntax_uid: str | None
    modality: str  # DICOM modality, or '' for plain images
    body_part: str  # BodyPartExamined upper-case, '' if none
    study_date: datetime.date | None
    study_time: datetime.time | None
    study_description: str  # after de-identification (the profile removes it: usually '')
    series_description: str
    series_number: int | None
    instance_number: int | None
    patient_pseudonym: str | None
    patient_sex: str
    patient_age: str
    rows: int
    cols: int
    frames: int
    samples_per_pixel: int
    photometric: str
    bits_stored: int | None
    pixel_spacing: tuple[float, float] | None  # PixelSpacing, else ImagerPixelSpacing, else None
    window: tuple[float, float] | None  # window used for display
    burned_in_annotation: bool | None
    header: dict  # JSON-serialisable view of the DE-IDENTIFIED header
    display_pngs: list[bytes]  # one per frame, longest side <= limits.display_max_px
    thumbnail_png: bytes  # of the middle frame
    warnings: list[str]
    # The ORIGINAL header's identity (oncocore.imaging.identity), read before de-identification;
    # {} for plain images. Only the intake's encrypted StudyIdentity may keep it: it is left
    # out of repr so that no log line or traceback that prints a Prepared carries it.
    identity: dict[str, str] = field(default_factory=dict, repr=False)
    # The header fields task routing reads (oncocore.routing.FIELDS), taken before
    # de-identification removes the descriptions and protocol; {} for plain images.
    # Read by routing only, never stored; out of repr like the identity.
    routing_header: dict[str, str] = field(default_factory=dict, repr=False)


def prepare(source: SourceFile, *, limits: Limits, deid: DeidOptions, pseudonym_key: bytes) -> Prepared:
    """Turn ``source`` into a :class:`Prepared`, or raise :class:`Rejected` with a one-line reason.

    Any unexpected exception is logged with its traceback and converted to
    ``Rejected('could not decode pixel data: ...')`` (the detail goes to the log). The one
    exception to "only Rejected": an empty ``pseudonym_key`` raises ValueError,
    because that is a deployment error that must not read as a bad upload.
    """
    if not pseudonym_key:
        raise ValueError("pseudonym_key must not be empty")
    try:
        return _prepare(source, limits=limits, deid=deid, pseudonym_key=pseudonym_key)
    except Rejected:
        raise
    except MemoryError:
        raise Rejected("file too large to process in memory") from None
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException:  # BaseException: Rust extensions panic with pyo3's PanicException
        logger.warning("unexpected error preparing %r", source.name, exc_info=True)
        raise Rejected(
            "could not decode pixel data: the image data is damaged or in a form we cannot read"
        ) from None


def _prepare(source: SourceFile, *, limits: Limits, deid: DeidOptions, pseudonym_key: bytes) -> Prepared:
    data = source.data
    if not data:
        raise Rejected("empty file")
    if len(data) > limits.max_file_bytes:
        raise Rejected(limits.file_size_reason(len(data)))
    sha256 = hashlib.sha256(data).hexdigest()
    # The DICOM preamble is checked first: dual-personality files (DICOM + TIFF) exist.
    if has_dicom_preamble(data):
        return _prepare_dicom(source, sha256, limits, deid, pseudonym_key)
    fmt = image_format(data)
    if fmt is not None:
        return _prepare_image(source, sha256, fmt, limits)
    if looks_like_bare_dataset(data):
        return _prepare_dicom(source, sha256, limits, deid, pseudonym_key)
    kind = archive_kind(data)
    if kind is not None:
        raise Rejected(f"{kind} archive: upload a .zip so its files can be extracted")
    raise Rejected("not a DICOM file or a supported image (JPEG, PNG, TIFF)")


def _text(ds: Dataset, keyword: str) -> str:
    try:
        return one_line(str(ds.get(keyword, "") or ""), 200).strip()
    except Exception:  # malformed value: treat as absent
        return ""


def routing_header_of(ds: Dataset) -> dict[str, str]:
    """The header fields task routing reads (``oncocore.routing.FIELDS``), as intake reads them."""
    return {keyword: _text(ds, keyword) for keyword in ROUTING_FIELDS}


def _int_or_none(ds: Dataset, keyword: str) -> int | None:
    try:
        return int(str(ds.get(keyword, "")).strip())
    except (TypeError, ValueError):
        return None


def _parse_date(text: str) -> datetime.date | None:
    try:
        return datetime.datetime.strptime(text.strip()[:8], "%Y%m%d").date() if text.strip() else None
    except ValueError:
        return None


def _parse_time(text: str) -> datetime.time | None:
    """DICOM TM: HH, HHMM, HHMMSS or HHMMSS.FFFFFF (also the old HH:MM:SS form)."""
    text = text.strip().replace(":", "")
    main, _, frac = text.partition(".")
    if not main.isdigit() or len(main) not in (2, 4, 6):
        return None
    try:
        hh, mm, ss = int(main[0:2]), int(main[2:4] or 0), int(main[4:6] or 0)
        micro = int((frac[:6] if frac.isdigit() else "").ljust(6, "0") or 0)
        return datetime.time(hh, mm, min(ss, 59), micro)
    except ValueError:
        return None


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    candidates = [ds.get("PixelSpacing"), ds.get("ImagerPixelSpacing")]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and shared[0].get("PixelMeasuresSequence"):
        candidates.insert(1, shared[0].PixelMeasuresSequence[0].get("PixelSpacing"))
    for value in candidates:
        try:
            if value is not None and len(value) == 2 and all(float(v) > 0 for v in value):
                return float(value[0]), float(value[1])
        except (TypeError, ValueError):
            continue
    return None


@dataclass
class _Deidentified:
    stored: bytes
    geometry: Geometry
    ts: UID
    pseudonym: str
    warnings: list[str]
    identity: dict[str, str] = field(repr=False)
    routing_header: dict[str, str] = field(repr=False)


def _validate_and_deidentify(data: bytes, limits: Limits, deid: DeidOptions, key: bytes) -> _Deidentified:
    """Header checks (all before decoding), the original identity, then the de-identified Part 10 bytes."""
    ds = read_dataset(data, limits)
    check_is_image(ds)
    warnings = check_uids(ds)
    geometry = read_geometry(ds, limits)
    check_rescale(ds)
    ts = transfer_syntax_of(ds)
    check_decodable(ds, ts, geometry)
    identity = identity_of(ds)  # before de-identification, which removes it
    routing_header = routing_header_of(ds)  # likewise
    patient_id = _text(ds, "PatientID")
    issuer = _text(ds, "IssuerOfPatientID")
    if is_own_pseudonym(ds, patient_id):
        pseudonym = patient_id  # de-identified here before (a try-out saved, a re-import)
        identity = {}  # its header holds our pseudonym, not the hospital's patient: nothing to keep
    elif patient_id:
        pseudonym = pseudonym_for(issuer=issuer, patient_id=patient_id, key=key)
    else:
        # No Patient ID: nothing links this study to another one, so it is its own
        # pseudonymous patient. Its pseudonym is keyed on the Study Instance UID, which
        # is kept anyway, so every instance of the study gets the same one.
        study_uid = _text(ds, "StudyInstanceUID")
        pseudonym = pseudonym_for(issuer=NO_PATIENT_ID_ISSUER, patient_id=study_uid, key=key)
    warnings += deidentify(ds, pseudonym=pseudonym, options=deid)
    strip_frame_metadata(ds, str(ts))  # COM/APPn text inside the compressed frames themselves
    return _Deidentified(write_part10(ds, ts), geometry, ts, pseudonym, warnings, identity, routing_header)


def _prepare_dicom(
    source: SourceFile, sha256: str, limits: Limits, deid: DeidOptions, key: bytes
) -> Prepared:
    try:
        done = _validate_and_deidentify(source.data, limits, deid, key)
    except Rejected:
        raise
    except Exception:  # values are parsed lazily: a corrupt element surfaces here
        logger.info("corrupt DICOM header in %r", source.name, exc_info=True)
        raise Rejected("corrupt DICOM header: a header value is damaged and cannot be read") from None

    stored, geometry, ts = done.stored, done.geometry, done.ts
    # Work from the stored file from here on: it is what we keep and will serve.
    stored_ds = pydicom.dcmread(io.BytesIO(stored))
    modality = _text(stored_ds, "Modality").upper()
    body_part = _text(stored_ds, "BodyPartExamined").upper()
    rendered = render_dicom(
        stored_ds, geometry, limits, modality=modality, body_part=body_part, ts_name=ts.name or str(ts)
    )
    burned = _text(stored_ds, "BurnedInAnnotation").upper()
    return Prepared(
        kind="dicom",
        source_name=source.name,
        sha256=sha256,
        stored_bytes=stored,
        stored_ext=".dcm",
        stored_sha256=hashlib.sha256(stored).hexdigest(),
        study_instance_uid=_text(stored_ds, "StudyInstanceUID"),
        series_instance_uid=_text(stored_ds, "SeriesInstanceUID"),
        sop_instance_uid=_text(stored_ds, "SOPInstanceUID"),
        sop_class_uid=_text(stored_ds, "SOPClassUID"),
        transfer_syntax_uid=str(ts),
        modality=modality,
        body_part=body_part,
        study_date=_parse_date(_text(stored_ds, "StudyDate")),
        study_time=_parse_time(_text(stored_ds, "StudyTime")),
        study_description=_text(stored_ds, "StudyDescription"),
        series_description=_text(stored_ds, "SeriesDescription"),
        series_number=_int_or_none(stored_ds, "SeriesNumber"),
        instance_number=_int_or_none(stored_ds, "InstanceNumber"),
        patient_pseudonym=done.pseudonym,
        patient_sex=_text(stored_ds, "PatientSex").upper(),
        patient_age=_text(stored_ds, "PatientAge").upper(),
        rows=geometry.rows,
        cols=geometry.cols,
        frames=geometry.frames,
        samples_per_pixel=geometry.samples_per_pixel,
        photometric=geometry.photometric,
        bits_stored=geometry.bits_stored,
        pixel_spacing=_pixel_spacing(stored_ds),
        window=rendered.window,
        burned_in_annotation=True if burned == "YES" else False if burned == "NO" else None,
        header=header_dict(stored_ds),
        display_pngs=rendered.display_pngs,
        thumbnail_png=rendered.thumbnail_png,
        warnings=done.warnings + rendered.warnings,
        identity=done.identity,
        routing_header=done.routing_header,
    )


def _prepare_image(source: SourceFile, sha256: str, fmt: str, limits: Limits) -> Prepared:
    image = prepare_plain_image(source.data, fmt, limits)
    pixels = image.pixels
    photometric = "RGB" if pixels.ndim == 3 else "MONOCHROME2"
    window = choose_window(
        pixels,
        modality="",
        body_part="",
        file_window=None,
        photometric=photometric,
        bits_stored=image.bits_stored,
    )
    display = render_frame(pixels, window=window, photometric=photometric)
    return Prepared(
        kind="image",
        source_name=source.name,
        sha256=sha256,
        stored_bytes=image.stored_bytes,
        stored_ext=image.stored_ext,
        stored_sha256=hashlib.sha256(image.stored_bytes).hexdigest(),
        study_instance_uid=None,
        series_instance_uid=None,
        sop_instance_uid=None,
        sop_class_uid=None,
        transfer_syntax_uid=None,
        modality="",
        body_part="",
        study_date=None,
        study_time=None,
        study_description="",
        series_description="",
        series_number=None,
        instance_number=None,
        patient_pseudonym=None,
        patient_sex="",
        patient_age="",
        rows=image.height,
        cols=image.width,
        frames=1,
        samples_per_pixel=3 if pixels.ndim == 3 else 1,
        photometric=photometric,
        bits_stored=image.bits_stored,
        pixel_spacing=None,
        window=window,
        burned_in_annotation=None,
        header=image.header,
        display_pngs=[png_bytes(display, max_px=limits.display_max_px)],
        thumbnail_png=thumbnail_png(display, limits.thumbnail_px),
        warnings=image.warnings,
    )
