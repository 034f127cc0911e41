"""/api/v1/destinations/: the PACS that get results back (Curators); the password or token is write-only."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import Scope
from api.pagination import NewestFirstCursor
from api.schema import CURSOR, PAGE_SIZE, errors, example
from api.views.base import AuthenticatedRequest, StrictSerializer, api_audit
from cases.models import Site
from results.models import Destination
from results.selectors import destinations_for_user
from results.services.connection import destination_test
from results.services.destinations import (
    DestinationFields,
    destination_create,
    destination_delete,
    destination_update,
)

TAGS = ["destinations"]
ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The destination's id.")
DENIED = "Only Curators manage result destinations."


class DestinationSerializer(serializers.ModelSerializer):
    site = serializers.CharField(
        source="site.code", allow_null=True, default=None, help_text="null: every site."
    )
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    secret_set = serializers.SerializerMethodField(help_text="A password or token is stored (never shown).")
    # Not a URI field: a DIMSE destination has none ("").
    url = serializers.CharField(help_text="STOW-RS: the DICOMweb base URL; DIMSE: empty.")

    class Meta:
        model = Destination
        fields = [
            "id", "name", "site", "kind", "ae_title", "host", "port", "calling_ae_title", "url", "auth",
            "username", "secret_set", "send_ai_results", "send_review_results", "is_active", "created_by",
            "created_at",
        ]  # fmt: skip

    def get_secret_set(self, obj: Destination) -> bool:
        return bool(obj.secret_encrypted)


class _Fields(StrictSerializer):
    name = serializers.CharField(max_length=100)
    site = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Site.objects.all(),
        required=False,
        allow_null=True,
        help_text="A site code: only that site's results. Omit or null for every site.",
    )
    kind = serializers.ChoiceField(choices=Destination.Kind.choices, default=Destination.Kind.DIMSE)
    ae_title = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    host = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    port = serializers.IntegerField(required=False, allow_null=True, default=None)
    calling_ae_title = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    url = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    auth = serializers.ChoiceField(choices=Destination.Auth.choices, default=Destination.Auth.NONE)
    username = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        write_only=True,
        help_text="HTTP Basic password or bearer token; stored encrypted, never returned.",
    )
    send_ai_results = serializers.BooleanField(default=True)
    send_review_results = serializers.BooleanField(default=True)
    is_active = serializers.BooleanField(default=True)


class DestinationCreateInput(_Fields):
    pass


class DestinationUpdateInput(_Fields):
    """Every field optional; ``secret`` omitted keeps the stored one, "" clears it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty


DESTINATION_EXAMPLE: dict[str, Any] = {
    "id": 2,
    "name": "Main PACS",
    "site": "uh-radiology",
    "kind": "dimse",
    "ae_title": "MAINPACS",
    "host": "pacs.uh.example",
    "port": 104,
    "calling_ae_title": "",
    "url": "",
    "auth": "none",
    "username": "",
    "secret_set": False,
    "send_ai_results": True,
    "send_review_results": True,
    "is_active": True,
    "created_by": "cur",
    "created_at": "2026-11-30T08:00:00Z",
}


def _destination(request: AuthenticatedRequest, pk: int) -> Destination:
    return get_object_or_404(destinations_for_user(user=request.user), pk=pk)


def _values(data: dict[str, Any]) -> DestinationFields:
    return DestinationFields(**{k: v for k, v in data.items() if k != "secret"})


class DestinationListView(APIView):
    scopes = {"get": Scope.ADMIN, "post": Scope.ADMIN}
    permissions = {"get": "results.view_destination", "post": "results.add_destination"}
    denied = {"get": DENIED, "post": DENIED}
    pagination_class = NewestFirstCursor

    @extend_schema(
        operation_id="destinations_list",
        summary="Result destinations",
        description="The PACS that get results back (docs/reidentification.md), newest first. "
        "A password or token is never shown: `secret_set` says whether one is stored.",
        parameters=[CURSOR, PAGE_SIZE],
        responses={200: DestinationSerializer(many=True), **errors(403)},
        examples=[
            example("One destination", {"next": None, "previous": None, "results": [DESTINATION_EXAMPLE]})
        ],
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(destinations_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(DestinationSerializer(page, many=True).data)

    @extend_schema(
        operation_id="destinations_create",
        summary="Add a result destination",
        description="DIMSE (AE title, host, port) or STOW-RS (base URL, auth). Enabling one needs "
        "ONCOPORTAL_REID_KEY (400 otherwise).",
        request=DestinationCreateInput,
        responses={201: DestinationSerializer, **errors(400, 403)},
        examples=[
            example(
                "A DIMSE PACS",
                {
                    "name": "Main PACS",
                    "site": "uh-radiology",
                    "kind": "dimse",
                    "ae_title": "MAINPACS",
                    "host": "pacs.uh.example",
                    "port": 104,
                },
                request=True,
            ),
            example("Created", DESTINATION_EXAMPLE, status=201),
        ],
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        params = DestinationCreateInput(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        destination = destination_create(
            values=_values(data),
            secret=data.get("secret", ""),
            created_by=request.user,
            audit=api_audit(request),
        )
        return Response(DestinationSerializer(destination).data, status=201)


class DestinationDetailView(APIView):
    scopes = {"get": Scope.ADMIN, "patch": Scope.ADMIN, "delete": Scope.ADMIN}
    permissions = {
        "get": "results.view_destination",
        "patch": "results.change_destination",
        "delete": "results.delete_destination",
    }
    denied = {action: DENIED for action in ("get", "patch", "delete")}

    @extend_schema(
        operation_id="destinations_retrieve",
        summary="One result destination",
        parameters=[ID],
        responses={200: DestinationSerializer, **errors(403, 404)},
        examples=[example("A DIMSE PACS", DESTINATION_EXAMPLE)],
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        return Response(DestinationSerializer(_destination(request, pk)).data)

    @extend_schema(
        operation_id="destinations_partial_update",
        summary="Change a result destination",
        description='Only the fields sent change. `secret` omitted keeps the stored one; `""` clears it.',
        parameters=[ID],
        request=DestinationUpdateInput,
        responses={200: DestinationSerializer, **errors(400, 403, 404)},
        examples=[
            example("Disable", {"is_active": False}, request=True),
            example("Disabled", {**DESTINATION_EXAMPLE, "is_active": False}),
        ],
        tags=TAGS,
    )
    def patch(self, request: AuthenticatedRequest, pk: int) -> Response:
        destination = _destination(request, pk)
        params = DestinationUpdateInput(data=request.data)
        params.is_valid(raise_exception=True)
        data = dict(params.validated_data)
        values = DestinationFields.of(destination)
        for name, value in data.items():
            if name != "secret":
                setattr(values, name, value)
        updated = destination_update(
            destination=destination,
            values=values,
            secret=data.get("secret"),
            by=request.user,
            audit=api_audit(request),
        )
        return Response(DestinationSerializer(updated).data)

    @extend_schema(
        operation_id="destinations_destroy",
        summary="Delete a result destination",
        description="Its deliveries go with it; when no destination covers a site any more, the identities "
        "kept for its studies are deleted too.",
        parameters=[ID],
        responses={204: None, **errors(403, 404)},
        tags=TAGS,
    )
    def delete(self, request: AuthenticatedRequest, pk: int) -> Response:
        destination_delete(destination=_destination(request, pk), by=request.user, audit=api_audit(request))
        return Response(status=204)


class ConnectionOutcomeSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()


class DestinationTestView(APIView):
    scopes = {"post": Scope.ADMIN}
    permissions = {"post": "results.change_destination"}
    denied = {"post": DENIED}

    @extend_schema(
        operation_id="destinations_test",
        summary="Test the connection",
        description="A C-ECHO to a DIMSE destination, an authenticated QIDO-RS `GET <url>/studies?limit=1` "
        "to a DICOMweb one; 200 with the outcome either way.",
        parameters=[ID],
        request=None,
        responses={200: ConnectionOutcomeSerializer, **errors(403, 404)},
        examples=[
            example(
                "Reached", {"ok": True, "message": "C-ECHO to MAINPACS@pacs.uh.example:104: Success (0x0000)"}
            )
        ],
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        outcome = destination_test(
            destination=_destination(request, pk), by=request.user, audit=api_audit(request)
        )
        return Response({"ok": outcome.ok, "message": outcome.message})
