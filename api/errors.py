"""API errors with their own code and message that still carry per-field errors (the one error body)."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.exceptions import APIException


class FieldErrors(serializers.ValidationError):
    """A 400 whose ``code`` and ``message`` say more than "invalid, see errors"; ``errors`` per field.

    ``oncoportal.exceptions.api_exception_handler`` reads ``message`` and
    ``default_code`` off the instance.
    """

    def __init__(self, message: str, errors: dict[str, list[str]], *, code: str = "invalid") -> None:
        super().__init__(errors)
        self.message = message
        self.default_code = code


class TooLarge(APIException):
    """413: the body is over the upload limit, decided from Content-Length before it is read."""

    status_code = 413
    default_code = "too_large"
    default_detail = "The request body is too large."
