"""The hostile-input corpus of issue 24: at least 200 named inputs, built deterministically.

``corpus()`` returns file inputs (bytes and the name they are uploaded under) and
``requests()`` whole HTTP request bodies (huge, malformed, lying multipart). Every
input says what must become of it, honestly: ``reject`` (refused with a reason),
``accept`` (stored whole: the input is in fact valid), ``either`` (a bit flip or a
truncated codestream may still decode: stored whole, or refused with a reason), or
``mixed`` (a zip with good and bad entries: some stored, the rest refused).

The categories (see ``CATEGORIES``): truncated and bit-flipped DICOM (seeds: real
files from ``../shared/data/dicom``, or files pydicom writes when that folder is
absent), wrong VRs and lengths, absurd and inconsistent dimensions, NaN/inf
rescale and window values, codestream bombs for every compressed syntax (and
their honest twins), deflate bombs, zip bombs (overlapping entries, ratio, lying
sizes), path traversal and symbolic links (in zips, and on disk for the CLI),
polyglots, HTML/SVG/scripts disguised as images, non-UTF-8 and very long names,
and (``requests()``) huge and malformed multipart bodies.

Shared by ``tests/corpus/test_*.py`` and ``bench/corpus.py``. Inputs stay small
(the largest is a few MiB) because the limits they run under are lowered
(``CORPUS_SETTINGS``): a deflated dataset over 8 MiB is a bomb here, as one over
2 GiB is in production.
"""

from __future__ import annotations

import functools

from tests.corpus import archives, dicom_bombs, dicom_inputs, dicom_surgery, http_inputs, names
from tests.corpus.model import ENTRY_POINTS, HostileInput, HostileRequest

__all__ = [
    "CATEGORIES",
    "CORPUS_ENVIRONMENT",
    "CORPUS_SETTINGS",
    "ENTRY_POINTS",
    "HostileInput",
    "HostileRequest",
]

# The limits the corpus runs under (Django settings; bench/corpus.py passes them as environment).
CORPUS_SETTINGS = {
    "INTAKE_MAX_REQUEST_BYTES": 8 * 1024 * 1024,
    "INTAKE_MAX_ZIP_ENTRIES": 100,
    "DATA_UPLOAD_MAX_NUMBER_FILES": 20,
}
CORPUS_ENVIRONMENT = {
    "ONCOPORTAL_MAX_UPLOAD_BYTES": str(CORPUS_SETTINGS["INTAKE_MAX_REQUEST_BYTES"]),
    "ONCOPORTAL_MAX_ZIP_ENTRIES": str(CORPUS_SETTINGS["INTAKE_MAX_ZIP_ENTRIES"]),
    "ONCOPORTAL_MAX_UPLOAD_FILES": str(CORPUS_SETTINGS["DATA_UPLOAD_MAX_NUMBER_FILES"]),
}


CATEGORIES = {
    "truncated": "truncated DICOM (every seed, several cut points)",
    "bit-flip": "bit-flipped DICOM (header, pixel data, encapsulated codestreams)",
    "vr-length": "wrong VRs and lengths",
    "dimensions": "absurd and inconsistent dimensions",
    "rescale": "NaN/inf rescale and window values",
    "codestream-bomb": "codestream bombs for every compressed syntax, and honest twins",
    "deflate-bomb": "deflated datasets that inflate past the limits",
    "zip": "zip bombs (overlapping entries, ratio, lying sizes) and broken zips",
    "traversal": "path traversal and symbolic links (zip entries, names, the CLI's disk)",
    "polyglot": "polyglots (DICOM + zip/PNG/HTML, images with trailers)",
    "disguised": "HTML/SVG/scripts and other non-images disguised as images",
    "names": "non-UTF-8, very long and strange file names",
    "multipart": "huge and malformed multipart bodies",
}


@functools.cache
def corpus() -> tuple[HostileInput, ...]:
    """Every file input, in a fixed order; names are unique."""
    seeds = dicom_inputs.seeds()
    items: list[HostileInput] = [
        *dicom_inputs.truncated(seeds),
        *dicom_inputs.bit_flipped(seeds),
        *dicom_surgery.wrong_vr_and_length(seeds),
        *dicom_surgery.dimensions(seeds),
        *dicom_surgery.rescale(seeds),
        *dicom_bombs.codestream_bombs(),
        *dicom_bombs.deflate_bombs(seeds),
        *archives.zips(seeds),
        *archives.traversal(seeds),
        *archives.polyglots(seeds),
        *archives.disguised(),
        *names.names(seeds),
    ]
    seen: set[str] = set()
    for item in items:
        assert item.name not in seen, f"duplicate corpus name {item.name}"
        assert item.category in CATEGORIES, item.category
        seen.add(item.name)
    return tuple(items)


@functools.cache
def requests() -> tuple[HostileRequest, ...]:
    """Every whole-request input (for the web upload, the REST API and STOW-RS)."""
    return tuple(http_inputs.requests(dicom_inputs.seeds()))


def for_entry_point(entry_point: str) -> list[HostileInput]:
    return [item for item in corpus() if entry_point in item.entry_points]
