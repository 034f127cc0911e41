"""OpenAPI pieces every endpoint shares: the error shape, the errors each call documents, the token scheme."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The one error body of the API (``oncoportal.exceptions.api_error_body``)."""

    code = serializers.CharField(
        help_text="Machine-readable: invalid, not_found, permission_denied, throttled…"
    )
    message = serializers.CharField(help_text="What went wrong, for a person.")
    errors = serializers.DictField(  # type: ignore[assignment]  # a field, not .errors
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per field of the request; empty when the error is not about a field.",
    )


_ERRORS: dict[int, tuple[str, str, str, dict[str, list[str]]]] = {
    400: ("Invalid input", "invalid", "The request has invalid fields; see errors.", {"task": ["Unknown task."]}),
    401: ("No valid credentials", "not_authenticated", "Authentication credentials were not provided.", {}),
    403: ("Missing scope or role permission", "permission_denied",
          "This token lacks the 'upload' scope this call needs.", {}),
    404: ("Not found, or not visible to this account", "not_found", "Not found.", {}),
    409: ("Not allowed in the object's current state", "conflict",
          "a queued case cannot be reviewed yet", {}),
    413: ("Body over the upload limit", "too_large",
          "This upload is 3.1 GB, over the 2.0 GB limit. Nothing was stored.", {}),
    415: ("Unsupported content type", "unsupported_media_type",
          'Unsupported media type "text/plain" in request.', {}),
    429: ("Too many requests (see Retry-After)", "throttled",
          "Request was throttled. Expected available in 12 seconds.", {}),
}  # fmt: skip


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """OpenAPI responses for these error statuses, each with the shared body and an example.

    401 and 429 apply to every call and are always added.
    """
    out: dict[int, OpenApiResponse] = {}
    for status in sorted({*statuses, 401, 429}):
        description, code, message, field_errors = _ERRORS[status]
        out[status] = OpenApiResponse(
            response=ErrorSerializer,
            description=description,
            examples=[
                OpenApiExample(
                    f"{status} {code}",
                    value={"code": code, "message": message, "errors": field_errors},
                    response_only=True,
                    status_codes=[str(status)],
                )
            ],
        )
    return out


def path_id(description: str, *, name: str = "id", kind: Any = int) -> OpenApiParameter:
    """A path parameter with its description (every path parameter of the API has one)."""
    return OpenApiParameter(name, kind, OpenApiParameter.PATH, description=description)


PAGE_SIZE = OpenApiParameter(
    "page_size",
    {"type": "integer", "minimum": 1, "maximum": 200},
    description="Results per page, 1 to 200 (default 50).",
)
CURSOR = OpenApiParameter(
    "cursor", str, description="Opaque: take it from the next or previous link of a page."
)


def example(name: str, value: Any, *, request: bool = False, status: int = 200) -> OpenApiExample:
    """A response example (or, with ``request``, a request body example)."""
    if request:
        return OpenApiExample(name, value=value, request_only=True)
    return OpenApiExample(name, value=value, response_only=True, status_codes=[str(status)])


def _pagination_error(
    status: int, code: str, description: str, message: str, field_errors: dict[str, list[str]]
) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description,
        examples=[
            OpenApiExample(
                f"{status} {code}",
                value={"code": code, "message": message, "errors": field_errors},
                response_only=True,
                status_codes=[str(status)],
            )
        ],
    )


# What every paginated list may answer, documented on each by ApiAutoSchema.
PAGINATION_ERRORS = {
    "400": _pagination_error(
        400, "invalid", "Invalid input (page_size out of range, or a bad filter)",
        "The request has invalid fields; see errors.", {"page_size": ["A whole number from 1 to 200."]},
    ),
    "404": _pagination_error(
        404, "invalid_cursor", "No such page: a cursor that is not one of this list's",
        "Invalid cursor: use the next or previous link of a page as given.", {},
    ),
}  # fmt: skip


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's schema, plus the 400 and 404 every paginated list may answer (page_size, cursor)."""

    def _map_serializer(self, serializer: Any, direction: Any, bypass_extensions: bool = False) -> Any:
        schema = super()._map_serializer(serializer, direction, bypass_extensions)
        # A request body refuses unknown fields (StrictSerializer): say so, so clients and
        # generated tests know an extra field is an error, not ignored.
        from api.views.base import StrictSerializer

        if direction == "request" and isinstance(serializer, StrictSerializer) and isinstance(schema, dict):
            schema["additionalProperties"] = False
        return schema

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        bodies: dict[str, Any] = super()._get_response_bodies(direction)
        if self._get_paginator() is not None and self._is_list_view():
            for status, response in PAGINATION_ERRORS.items():
                if status not in bodies:
                    bodies[status] = self._get_response_for_code(response, status, direction=direction)
        return bodies


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "onc_<8>_<43>",
            "description": "An API token made by a Curator (admin, or `manage.py api_token create`). "
            "Its scopes (read, upload, review, admin) limit what it may do; the account's role "
            "and site decide what it may see.",
        }
