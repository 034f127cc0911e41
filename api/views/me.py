"""Who am I: the account, role, site and token an integration is calling with (to check a new token)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import ApiToken, Scope
from api.permissions import granted_scopes
from api.schema import errors, example
from api.views.base import AuthenticatedRequest


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    site = serializers.CharField(allow_null=True, help_text="The site code; null for Curators (all sites).")
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=Scope.choices))
    token = serializers.DictField(
        allow_null=True, help_text="name, prefix and expires_at of the token used; null for a session."
    )


class MeView(APIView):
    scopes = {"get": Scope.READ}

    @extend_schema(
        operation_id="me",
        summary="The calling account, its role, site, scopes and token",
        description="Check a token: which account it acts as, what it may do, and when it expires.",
        responses={200: MeSerializer, **errors(403)},
        examples=[
            example(
                "PACS token",
                {
                    "username": "pacs",
                    "roles": ["Integration"],
                    "site": "uh-radiology",
                    "scopes": ["read", "upload"],
                    "token": {
                        "name": "PACS router",
                        "prefix": "3f9a0c1e",
                        "expires_at": "2027-03-01T09:00:00Z",
                    },
                },
            )
        ],
        tags=["account"],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        user = request.user
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(
            {
                "username": user.get_username(),
                "roles": sorted(user.groups.values_list("name", flat=True)),
                "site": user.site.code if user.site is not None else None,
                "scopes": [s for s in Scope.values if s in granted_scopes(request)],
                "token": {"name": token.name, "prefix": token.prefix, "expires_at": token.expires_at}
                if token
                else None,
            }
        )
