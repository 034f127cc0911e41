"""Web helpers shared by every way in: the upload guard.

Each upload endpoint (the upload page, the try-out, and the REST API and
DICOMweb STOW-RS to come) refuses a body in the same order, before a byte of
it is stored:

1. the size, from Content-Length, before the body is read (413);
2. CSRF, for views a browser posts to with a session cookie (403, Django's
   own failure page);
3. parsing, with Django's own limits (too many files or fields, a body over
   DATA_UPLOAD_MAX_MEMORY_SIZE, a malformed multipart) as a clear 400.

A view using the guard must be ``csrf_exempt``: the CSRF middleware would
otherwise read the body (for the form's token) before the size is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

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
