"""The web's 500 handler: a database that cannot be reached is a 503 that says so.

Django calls ``handler500`` inside the ``except`` block of the failed request (view or
middleware: the session and the sign-in read the database before any view runs), so the
exception is at hand. Like Django's own handler it renders without a request context: a
context processor would read the database again. The API answers the same case itself
(``oncoportal.exceptions``), in its JSON error shape.
"""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader

from oncoportal.db import DATABASE_RETRY_AFTER_S, DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: 503 with Retry-After when the database is unavailable, else the 500 page."""
    exc = sys.exc_info()[1]
    if isinstance(exc, DATABASE_UNAVAILABLE):
        page = loader.get_template("503.html").render({"message": DATABASE_UNAVAILABLE_MESSAGE})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
        return response
    return HttpResponseServerError(loader.get_template("500.html").render())
