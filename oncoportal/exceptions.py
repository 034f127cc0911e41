"""Domain errors and their one mapping to HTTP.

Services raise these; views and the REST API translate them here, so the
status code for "not allowed now" is decided in one place.
"""

from __future__ import annotations

from typing import Any

from rest_framework.response import Response
from rest_framework.views import exception_handler


class DomainError(Exception):
    """Base for errors a user can act on; the message is shown to them."""

    status_code = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    status_code = 400


class TransitionNotAllowed(DomainError):
    status_code = 409


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        return Response({"detail": exc.message}, status=exc.status_code)
    return exception_handler(exc, context)
