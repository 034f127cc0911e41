"""Web helpers shared by every way in: the upload guard.

Each upload endpoint (the upload page, the try-out, and the REST API and
DICOMweb STOW-RS to come) refuses a body in the same order, before a byte of
it is stored:

1. the size, from Content-Length, before the body is read (413);
2. CSRF, for views a browser posts to with a session cookie (403, Django's
   own failure page);
3. parsing, with Django's own limits (too many files or fields, a body over
   DATA_UPLOAD_MAX_MEMORY_SIZE, a malformed multipart) as a clear 400.

Before anything parses a multipart/form-data body, its part headers are made
valid UTF-8 (:class:`LenientPartHeaders`): Django drops a part whose header
does not decode, so a file named in Latin-1 vanished and the upload said
"choose at least one file". Now it arrives, its undecodable bytes shown as
U+FFFD, the same display form ``oncocore.imaging.names`` gives a CLI name.

A view using the guard must be ``csrf_exempt``: the CSRF middleware would
otherwise read the body (for the form's token) before the size is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.middleware.csrf import CsrfViewMiddleware
from django.template.defaultfilters import filesizeformat

MALFORMED = "The form data was malformed or too large. Nothing was stored."


@dataclass(frozen=True)
class UploadMessages:
    """What each refusal says; ``{size}``, ``{limit}`` and ``{max_files}`` are filled in."""

    too_large: str = "This upload is {size}, over the {limit} limit. Nothing was stored."
    too_many_files: str = MALFORMED
    malformed: str = MALFORMED


Refuse = Callable[[int, str], HttpResponse]
"""Builds the endpoint's own error response from (status, message): a page, JSON, a DICOM status."""


def content_length(request: HttpRequest) -> int:
    """The declared body size in bytes; 0 when missing or not a number (then Django's own limits apply)."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def upload_guard(
    request: HttpRequest,
    *,
    refuse: Refuse,
    messages: UploadMessages | None = None,
    max_bytes: int | None = None,
    csrf: bool = True,
    parse: bool = True,
) -> HttpResponse | None:
    """Check an upload before anything is stored; None when it may go on, else the response to send.

    Args:
        request: The POST (or PUT) carrying the upload.
        refuse: Turns (status, message) into the endpoint's response.
        messages: The wording of each refusal (defaults to the generic one).
        max_bytes: The largest body accepted; defaults to INTAKE_MAX_REQUEST_BYTES.
        csrf: Check the CSRF token (browser views); off for token-authenticated APIs.
        parse: Parse a form body now, so Django's limits become clear messages;
            off for bodies Django does not parse (multipart/related of STOW-RS).
    """
    words = messages or UploadMessages()
    size = content_length(request)
    limit = settings.INTAKE_MAX_REQUEST_BYTES if max_bytes is None else max_bytes
    if size > limit:
        return refuse(413, _fill(words.too_large, size=size, limit=limit))
    lenient_part_headers(request)
    try:
        # The CSRF check reads the form's token, so it parses the body too: both sit
        # inside this try, and a bad body is a clear 400 whichever touches it first.
        if csrf:
            failure = _csrf_failure(request)
            if failure is not None:
                return failure
        if parse:
            request.FILES  # noqa: B018
    except TooManyFilesSent:
        return refuse(400, _fill(words.too_many_files, size=size, limit=limit))
    except (TooManyFieldsSent, RequestDataTooBig, MultiPartParserError):
        return refuse(400, _fill(words.malformed, size=size, limit=limit))
    return None


def _fill(template: str, *, size: int, limit: int) -> str:
    return template.format(
        size=filesizeformat(size),
        limit=filesizeformat(limit),
        max_files=settings.DATA_UPLOAD_MAX_NUMBER_FILES,
    )


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """Django's CSRF check as ``csrf_protect`` runs it: None when it passes, else the 403 response."""
    middleware = CsrfViewMiddleware(_never_called)
    middleware.process_request(request)
    return middleware.process_view(request, _never_called, (), {})


def _never_called(request: HttpRequest) -> HttpResponse:
    # Stands in for the view and the rest of the stack: only the CSRF checks run.
    raise AssertionError("the upload guard runs the CSRF checks only")


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


# A part's headers end at the first blank line; a "header" longer than this is not one.
_MAX_PART_HEADER_BYTES = 64 * 1024
_CHUNK = 64 * 1024


def lenient_part_headers(request: HttpRequest) -> None:
    """Wrap a multipart/form-data body not yet read so that its part headers are valid UTF-8."""
    content_type = request.META.get("CONTENT_TYPE", "")
    if not content_type.startswith("multipart/form-data") or getattr(request, "_read_started", True):
        return
    boundary = next(
        (
            value.strip().strip('"')
            for key, _, value in (p.strip().partition("=") for p in content_type.split(";")[1:])
            if key.lower() == "boundary"
        ),
        "",
    )
    stream = getattr(request, "_stream", None)
    if boundary and stream is not None:
        request._stream = LenientPartHeaders(stream, boundary.encode("latin-1"))  # type: ignore[assignment]


class LenientPartHeaders:
    """A multipart body stream whose part headers are re-encoded as UTF-8 (bad bytes become U+FFFD).

    Part bodies pass through byte for byte: only the bytes between a boundary line
    and the blank line that ends its headers are touched, and only when they are not
    UTF-8 already.
    """

    def __init__(self, stream: _Readable, boundary: bytes) -> None:
        self._stream = stream
        self._delimiter = b"--" + boundary
        self._raw = b""  # read, not yet looked at
        self._ready = bytearray()  # looked at, to hand out
        self._in_headers = False
        self._eof = False

    def read(self, size: int = -1, *_: Any) -> bytes:
        while not self._eof and (size is None or size < 0 or len(self._ready) < size):
            self._fill()
        if size is None or size < 0:
            size = len(self._ready)
        out = bytes(self._ready[:size])
        del self._ready[:size]
        return out

    def readline(self, size: int = -1, *_: Any) -> bytes:
        while (
            not self._eof
            and b"\n" not in self._ready
            and (size is None or size < 0 or len(self._ready) < size)
        ):
            self._fill()
        end = self._ready.find(b"\n") + 1 or len(self._ready)
        if size is not None and size >= 0:
            end = min(end, size)
        out = bytes(self._ready[:end])
        del self._ready[:end]
        return out

    def _fill(self) -> None:
        chunk = self._stream.read(_CHUNK)
        if not chunk:
            self._eof = True
            self._ready += _utf8(self._raw) if self._in_headers else self._raw
            self._raw = b""
            return
        self._raw += chunk
        while self._step():
            pass

    def _step(self) -> bool:
        """Move what can be decided from ``_raw`` to ``_ready``; True when it may go on."""
        if not self._in_headers:
            at = self._raw.find(self._delimiter)
            if at < 0:
                keep = len(self._delimiter) - 1  # a delimiter may straddle two chunks
                cut = max(len(self._raw) - keep, 0)
                self._ready += self._raw[:cut]
                self._raw = self._raw[cut:]
                return False
            end = at + len(self._delimiter)
            self._ready += self._raw[:end]
            self._raw = self._raw[end:]
            self._in_headers = True
        at = self._raw.find(b"\r\n\r\n")
        if at < 0:
            if len(self._raw) > _MAX_PART_HEADER_BYTES:  # not a header block: leave it to the parser
                self._ready += self._raw
                self._raw = b""
                self._in_headers = False
            return False
        self._ready += _utf8(self._raw[:at]) + b"\r\n\r\n"
        self._raw = self._raw[at + 4 :]
        self._in_headers = False
        return True


def _utf8(header: bytes) -> bytes:
    try:
        header.decode("utf-8")
    except UnicodeDecodeError:
        return header.decode("utf-8", "replace").encode("utf-8")
    return header
