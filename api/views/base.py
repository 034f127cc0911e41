"""What every API view shares: the audit context of an API call, strict serializers, the catch-all 404."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
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


def api_audit(request: Request | HttpRequest) -> AuditContext:
    """The audit context of an API call: its account, address and client; the token's prefix is in the agent."""
    context = AuditContext.from_request(request, source=AuditSource.API)
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
    """A request body serializer that refuses fields it does not know (a typo is an error, not ignored)."""

    def to_internal_value(self, data: Any) -> Any:
        unknown = sorted(set(data.keys()) - set(self.fields)) if hasattr(data, "keys") else []
        errors = {name: ["Unknown field."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Every mistake at once: the typo and the fields it left missing.
            if errors and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **errors}) from None
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
