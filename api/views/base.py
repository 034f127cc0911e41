"""What every API view shares: the audit context of an API call, strict serializers, the catch-all 404."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse, QueryDict
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers
from rest_framework.request import Request

from cases.models import AuditSource, User
from cases.services.audit import AuditContext
from oncoportal.exceptions import api_error_body


class AuthenticatedRequest(Request):
    """The request an API view behind ``ApiAccess`` gets: its user is signed in.

    For the type checker only (views still receive a plain DRF Request): the
    stubs type ``request.user`` as ``User | AnonymousUser`` and cannot see that
    the permission class lets only signed-in accounts through.
    """

    user: User


def api_audit(request: Request | HttpRequest, *, source: str = AuditSource.API) -> AuditContext:
    """The audit context of an API call: its account, address and client; the token's prefix is in the agent.

    ``source`` is ``dicomweb`` for the DICOMweb endpoints, which share the API's tokens.
    """
    context = AuditContext.from_request(request, source=source)
    token = getattr(request, "auth", None)
    prefix = getattr(token, "prefix", "")
    if prefix:
        return AuditContext(
            actor=context.actor,
            source=context.source,
            ip=context.ip,
            user_agent=f"token {prefix}; {context.user_agent}"[:300],
        )
    return context


class StrictSerializer(serializers.Serializer):
    """A request body serializer that takes its schema at its word.

    It refuses fields it does not know (a typo is an error, not ignored) and,
    in a JSON body, a value of another JSON type than the field's (DRF would take
    0 or "yes" for a boolean, 5 for a string, "5" for a number) and an empty
    string for a reference (DRF reads it as null): what the OpenAPI schema says
    is what is accepted.
    """

    def to_internal_value(self, data: Any) -> Any:
        errors: dict[str, list[str]] = {}
        if hasattr(data, "keys"):
            errors.update({name: ["Unknown field."] for name in sorted(set(data.keys()) - set(self.fields))})
        if isinstance(data, dict) and not isinstance(data, QueryDict):
            for name, field in self.fields.items():
                if name not in data or field.read_only:
                    continue
                value = data[name]
                if isinstance(field, serializers.BooleanField) and not isinstance(value, bool):
                    errors[name] = ["Must be true or false."]
                elif isinstance(field, serializers.CharField) and not isinstance(value, str | None):
                    errors[name] = ["Must be a string."]
                elif isinstance(field, serializers.IntegerField) and (
                    isinstance(value, bool) or not isinstance(value, int | None)
                ):
                    errors[name] = ["Must be a whole number."]
                elif isinstance(field, serializers.RelatedField) and value == "":
                    errors[name] = ["Must not be empty; send null for none."]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if isinstance(exc.detail, dict):
                errors = {**exc.detail, **errors}  # type: ignore[dict-item]
            else:
                raise
        if errors:
            raise serializers.ValidationError(errors)
        return value


@csrf_exempt  # a JSON 404 whatever the method: not Django's CSRF page for an unknown POST path
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Any /api/ path that matches no endpoint: the API's 404, not the web UI's page."""
    return JsonResponse(
        api_error_body("not_found", f"No API endpoint at {request.path}. See /api/v1/docs/."), status=404
    )
