"""Domain errors and their one mapping to HTTP.

Services raise these; views and the REST API translate them here, so the
status code for "not allowed now" is decided in one place. Every API error
has one shape (``api_error_body``)::

    {"code": "invalid", "message": "The request has invalid fields.",
     "errors": {"task": ["Unknown task 'x'."]}}
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import (
    PermissionDenied as DjangoPermissionDenied,
)
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import Http404
from rest_framework import exceptions as drf

from oncoportal.db import DATABASE_RETRY_AFTER_S, DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_MESSAGE

if TYPE_CHECKING:
    from rest_framework.response import Response

logger = logging.getLogger(__name__)


class DomainError(Exception):
    """Base for errors a user can act on; the message is shown to them."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidInput(DomainError):
    status_code = 400
    code = "invalid"


class TransitionNotAllowed(DomainError):
    status_code = 409
    code = "conflict"


# The message of a DRF exception whose own text says little.
_MESSAGES: dict[type[drf.APIException], str] = {
    drf.ValidationError: "The request has invalid fields; see errors.",
}


def api_error_body(code: str, message: str, errors: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The one error shape of the REST API."""
    return {"code": code, "message": message, "errors": errors or {}}


def _field_errors(detail: Any) -> dict[str, list[str]]:
    """DRF's nested ``detail`` as {field: [messages]}; list errors go under ``non_field_errors``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _field_errors(value).items():
                    out[f"{key}.{sub}"] = messages
            elif isinstance(value, list) and value and isinstance(value[0], dict):
                for index, item in enumerate(value):
                    for sub, messages in _field_errors(item).items():
                        out[f"{key}[{index}].{sub}"] = messages
            else:
                out[str(key)] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    if isinstance(detail, list):
        return {"non_field_errors": [str(v) for v in detail]}
    return {}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Every exception raised in an API view as the one error shape, with the right status.

    Unexpected exceptions are logged with a reference the 500 body repeats; the
    transaction of the request, if any, is rolled back.
    """
    # Imported here: rest_framework.views loads the authentication classes, which import this module.
    from rest_framework.response import Response
    from rest_framework.views import set_rollback

    headers: dict[str, str] = {}
    errors: dict[str, list[str]]
    if isinstance(exc, DomainError):
        status, code, message, errors = exc.status_code, exc.code, exc.message, {}
    elif isinstance(exc, Http404):
        status, code, message, errors = 404, "not_found", str(exc) or "Not found.", {}
    elif isinstance(exc, DjangoPermissionDenied):
        status, code, message, errors = 403, "permission_denied", str(exc) or "Permission denied.", {}
    elif isinstance(exc, (RequestDataTooBig,)):
        status, code, message, errors = 413, "too_large", "The request body is too large.", {}
    elif isinstance(exc, TooManyFilesSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FILES
        message = f"Too many files in one upload (the limit is {limit}). Nothing was stored."
        status, code, errors = 400, "too_many_parts", {}
    elif isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        message = f"Too many form fields in one request (the limit is {limit}). Nothing was stored."
        status, code, errors = 400, "too_many_parts", {}
    elif isinstance(exc, SuspiciousOperation):
        status, code, message, errors = 400, "bad_request", "The request was malformed.", {}
    elif isinstance(exc, DATABASE_UNAVAILABLE):
        logger.warning(
            "API request refused, database unavailable: %s", (str(exc).strip().splitlines() or [""])[0]
        )
        status, code, message, errors = 503, "database_unavailable", DATABASE_UNAVAILABLE_MESSAGE, {}
        headers["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    elif isinstance(exc, drf.APIException):
        status = exc.status_code
        code = exc.default_code if isinstance(exc.default_code, str) else "error"
        if isinstance(exc, drf.ValidationError):
            errors = _field_errors(exc.detail)
            # A ValidationError subclass may say more than "see errors" (``message``).
            message = getattr(exc, "message", "") or _MESSAGES[drf.ValidationError]
            if list(errors) == ["non_field_errors"] and len(errors["non_field_errors"]) == 1:
                message = errors["non_field_errors"][0]
        else:
            errors = {}
            message = str(exc.detail) if not isinstance(exc.detail, (dict, list)) else str(exc.default_detail)
        auth_header = getattr(exc, "auth_header", None)
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        wait = getattr(exc, "wait", None)
        if wait is not None:
            headers["Retry-After"] = str(max(1, int(wait + 0.999)))
    else:
        reference = uuid.uuid4().hex[:12]
        logger.exception("API error %s", reference)
        status, code, errors = 500, "server_error", {}
        message = f"An unexpected error happened and was logged; quote reference {reference}."
    set_rollback()
    return Response(api_error_body(code, message, errors), status=status, headers=headers)
