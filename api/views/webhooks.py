"""/api/v1/webhooks/: a Curator's subscriptions, their delivery logs, and a test ping."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import DeliveryStatus, Scope, WebhookDelivery, WebhookEvent, WebhookSubscription
from api.models.webhooks import SUBSCRIBABLE_EVENTS
from api.pagination import NewestFirstCursor
from api.schema import CURSOR, PAGE_SIZE, errors, example
from api.selectors import webhook_deliveries, webhook_subscriptions_for_user
from api.services.webhooks import webhook_create, webhook_delete, webhook_ping, webhook_update
from api.views.base import AuthenticatedRequest, StrictSerializer, api_audit
from cases.models import Site

TAGS = ["webhooks"]
EVENT_CHOICES = [(e, WebhookEvent(e).label) for e in SUBSCRIBABLE_EVENTS]
ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The subscription's id.")


# --- Shapes -------------------------------------------------------------------
class SubscriptionSerializer(serializers.ModelSerializer):
    site = serializers.CharField(
        source="site.code", allow_null=True, default=None, help_text="null: every site."
    )
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES))
    state = serializers.ChoiceField(choices=["active", "failing", "disabled"], read_only=True)
    deliveries_url = serializers.SerializerMethodField()

    class Meta:
        model = WebhookSubscription
        fields = [
            "id", "name", "url", "events", "site", "is_active", "state", "created_by", "created_at",
            "failing_since", "disabled_at", "disabled_reason", "last_success_at", "deliveries_url",
        ]  # fmt: skip

    def get_deliveries_url(self, obj: WebhookSubscription) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:webhook_deliveries", args=[obj.pk]))


class CreatedSubscriptionSerializer(SubscriptionSerializer):
    secret = serializers.CharField(
        help_text="Signs every delivery. Shown only in this response: store it now."
    )

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class DeliverySerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    event = serializers.ChoiceField(choices=WebhookEvent.choices)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id", "event", "event_id", "status", "attempts", "last_status_code", "last_error",
            "next_attempt_at", "created_at", "delivered_at", "payload",
        ]  # fmt: skip


class CreateInput(StrictSerializer):
    name = serializers.CharField(max_length=100)
    url = serializers.URLField(max_length=500, help_text="An http:// or https:// address.")
    events = serializers.ListField(child=serializers.ChoiceField(choices=EVENT_CHOICES), min_length=1)
    site = serializers.SlugRelatedField(
        slug_field="code",
        queryset=Site.objects.all(),
        required=False,
        allow_null=True,
        help_text="A site code: only that site's cases. Omit or null for every site (Curators).",
    )


class UpdateInput(StrictSerializer):
    name = serializers.CharField(max_length=100, required=False)
    url = serializers.URLField(max_length=500, required=False)
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=EVENT_CHOICES), min_length=1, required=False
    )
    site = serializers.SlugRelatedField(
        slug_field="code", queryset=Site.objects.all(), required=False, allow_null=True
    )
    is_active = serializers.BooleanField(
        required=False, help_text="true re-enables a disabled subscription and clears its failure record."
    )


SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "id": 3,
    "name": "RIS worklist bridge",
    "url": "https://ris.example.org/oncoportal/hooks",
    "events": ["prediction.completed", "review.completed"],
    "site": "uh-radiology",
    "is_active": True,
    "state": "active",
    "created_by": "cur",
    "created_at": "2026-11-29T10:00:00Z",
    "failing_since": None,
    "disabled_at": None,
    "disabled_reason": "",
    "last_success_at": "2026-11-29T10:05:12Z",
    "deliveries_url": "https://oncoportal.example.org/api/v1/webhooks/3/deliveries/",
}
DISABLED_EXAMPLE = {
    **SUBSCRIPTION_EXAMPLE,
    "is_active": False,
    "state": "disabled",
    "failing_since": "2026-11-28T09:00:00Z",
    "disabled_at": "2026-11-29T09:01:00Z",
    "disabled_reason": "every delivery failed since 2026-11-28 09:00 UTC; last error: HTTP 500",
}
DELIVERY_EXAMPLE = {
    "id": 41,
    "event": "review.completed",
    "event_id": "0b6c7d0e-8a0f-4c1e-9d55-5d8e2f3a1b7c",
    "status": "failed",
    "attempts": 2,
    "last_status_code": 503,
    "last_error": "HTTP 503: Service Unavailable",
    "next_attempt_at": "2026-11-29T10:12:00Z",
    "created_at": "2026-11-29T10:02:00Z",
    "delivered_at": None,
    "payload": {
        "id": "0b6c7d0e-8a0f-4c1e-9d55-5d8e2f3a1b7c",
        "event": "review.completed",
        "created_at": "2026-11-29T10:02:00Z",
        "case": {
            "id": 17,
            "url": "https://oncoportal.example.org/api/v1/cases/17/",
            "site": "uh-radiology",
            "task": "brain_mri",
            "status": "reviewed",
            "ai": {"label": "glioma", "confidence": 0.91, "positive": True, "untrained": False},
        },
        "images": [
            {"image": 52, "label": "glioma", "non_diagnostic": False, "readers": 1, "adjudicated": False}
        ],
    },
}


def _subscription(request: AuthenticatedRequest, pk: int) -> WebhookSubscription:
    return get_object_or_404(webhook_subscriptions_for_user(user=request.user), pk=pk)


# --- Views ----------------------------------------------------------------------
class WebhookListView(APIView):
    scopes = {"get": Scope.ADMIN, "post": Scope.ADMIN}
    permissions = {"get": "api.view_webhooksubscription", "post": "api.add_webhooksubscription"}
    denied = {
        "get": "Only Curators manage webhooks.",
        "post": "Only Curators manage webhooks.",
    }
    pagination_class = NewestFirstCursor

    @extend_schema(
        operation_id="webhooks_list",
        summary="Webhook subscriptions",
        description="The subscriptions this account may manage (a Curator: every site's), newest first. "
        "The secret is never shown again after creation.",
        parameters=[
            CURSOR,
            PAGE_SIZE,
        ],
        responses={200: SubscriptionSerializer(many=True), **errors(403)},
        examples=[
            example(
                "Two subscriptions",
                {"next": None, "previous": None, "results": [SUBSCRIPTION_EXAMPLE, DISABLED_EXAMPLE]},
            )
        ],
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            webhook_subscriptions_for_user(user=request.user), request, view=self
        )
        data = SubscriptionSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        operation_id="webhooks_create",
        summary="Subscribe a URL to case events",
        description="Deliveries are POSTed as signed JSON (see docs/webhooks.md). The answer holds the "
        "`secret` that signs them: it is shown this once.",
        request=CreateInput,
        responses={201: CreatedSubscriptionSerializer, **errors(400, 403)},
        examples=[
            example(
                "New subscription",
                {
                    "name": "RIS worklist bridge",
                    "url": "https://ris.example.org/oncoportal/hooks",
                    "events": ["prediction.completed", "review.completed"],
                    "site": "uh-radiology",
                },
                request=True,
            ),
            example(
                "Created, with its secret",
                {**SUBSCRIPTION_EXAMPLE, "last_success_at": None, "secret": "whsec_5QkOe0d0l3…"},
                status=201,
            ),
        ],
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        params = CreateInput(data=request.data)
        params.is_valid(raise_exception=True)
        subscription = webhook_create(
            **params.validated_data, created_by=request.user, audit=api_audit(request)
        )
        data = CreatedSubscriptionSerializer(subscription, context={"request": request}).data
        return Response(data, status=201)


class WebhookDetailView(APIView):
    scopes = {"get": Scope.ADMIN, "patch": Scope.ADMIN, "delete": Scope.ADMIN}
    permissions = {
        "get": "api.view_webhooksubscription",
        "patch": "api.change_webhooksubscription",
        "delete": "api.delete_webhooksubscription",
    }
    denied = {action: "Only Curators manage webhooks." for action in ("get", "patch", "delete")}

    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="One webhook subscription",
        description="Its state; a disabled one says why in `disabled_reason`.",
        parameters=[ID],
        responses={200: SubscriptionSerializer, **errors(403, 404)},
        examples=[example("Disabled after a day of failures", DISABLED_EXAMPLE)],
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        return Response(SubscriptionSerializer(_subscription(request, pk), context={"request": request}).data)

    @extend_schema(
        operation_id="webhooks_partial_update",
        summary="Change a subscription, or enable / disable it",
        description='`{"is_active": true}` re-enables a disabled subscription and clears its failure record.',
        parameters=[ID],
        request=UpdateInput,
        responses={200: SubscriptionSerializer, **errors(400, 403, 404)},
        examples=[
            example("Re-enable", {"is_active": True}, request=True),
            example("Enabled again", SUBSCRIPTION_EXAMPLE),
        ],
        tags=TAGS,
    )
    def patch(self, request: AuthenticatedRequest, pk: int) -> Response:
        subscription = _subscription(request, pk)
        params = UpdateInput(data=request.data)
        params.is_valid(raise_exception=True)
        updated = webhook_update(
            subscription=subscription, by=request.user, audit=api_audit(request), **params.validated_data
        )
        return Response(SubscriptionSerializer(updated, context={"request": request}).data)

    @extend_schema(
        operation_id="webhooks_destroy",
        summary="Delete a subscription and its delivery log",
        parameters=[ID],
        responses={204: None, **errors(403, 404)},
        tags=TAGS,
    )
    def delete(self, request: AuthenticatedRequest, pk: int) -> Response:
        webhook_delete(subscription=_subscription(request, pk), by=request.user, audit=api_audit(request))
        return Response(status=204)


class WebhookDeliveriesView(APIView):
    scopes = {"get": Scope.ADMIN}
    permissions = {"get": "api.view_webhookdelivery"}
    denied = {"get": "Only Curators manage webhooks."}
    pagination_class = NewestFirstCursor

    @extend_schema(
        operation_id="webhooks_deliveries",
        summary="A subscription's delivery log",
        description="Every delivery, newest first: status, attempts, the last status code and error, "
        "the next attempt, and the payload sent.",
        parameters=[
            ID,
            CURSOR,
            PAGE_SIZE,
        ],
        responses={200: DeliverySerializer(many=True), **errors(403, 404)},
        examples=[
            example("A failing delivery", {"next": None, "previous": None, "results": [DELIVERY_EXAMPLE]})
        ],
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        subscription = _subscription(request, pk)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(webhook_deliveries(subscription=subscription), request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class WebhookPingView(APIView):
    scopes = {"post": Scope.ADMIN}
    permissions = {"post": "api.change_webhooksubscription"}
    denied = {"post": "Only Curators manage webhooks."}

    @extend_schema(
        operation_id="webhooks_ping",
        summary="Send a test delivery",
        description="Queues a `ping` delivery to this subscription; follow it in the delivery log. "
        "A disabled subscription must be enabled first (409).",
        parameters=[ID],
        request=None,
        responses={202: DeliverySerializer, **errors(403, 404, 409)},
        examples=[
            example(
                "Queued",
                {
                    **DELIVERY_EXAMPLE,
                    "event": "ping",
                    "status": "pending",
                    "attempts": 0,
                    "last_status_code": None,
                    "last_error": "",
                    "payload": {
                        "id": DELIVERY_EXAMPLE["event_id"],
                        "event": "ping",
                        "created_at": "2026-11-29T10:02:00Z",
                        "subscription": {"id": 3, "name": "RIS worklist bridge"},
                    },
                },
                status=202,
            )
        ],
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        delivery = webhook_ping(
            subscription=_subscription(request, pk), by=request.user, audit=api_audit(request)
        )
        return Response(DeliverySerializer(delivery).data, status=202)
