"""A case's audit trail, for Curators: who did what to the case and its images, reviews, predictions."""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.models import Scope
from api.pagination import OldestFirstCursor
from api.schema import errors, example, path_id
from api.views.base import AuthenticatedRequest, StrictSerializer
from cases.models import AuditEvent, AuditSource
from cases.selectors import audit_trail_for_case, case_list_for_user

CASE_ID = path_id("The case's id.")


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField(help_text="The actor's username; null for the system.")
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a field, not Field.label
        choices=AuditSource.choices, allow_blank=True, help_text="The way in; blank for old events."
    )
    detail = serializers.JSONField(help_text="What the action recorded (fields, labels, from/to…).")

    class Meta:
        model = AuditEvent
        fields = [
            "id", "at", "action", "actor", "source", "ip_address", "user_agent", "object_type", "object_id",
            "detail",
        ]  # fmt: skip
        read_only_fields = fields

    def get_actor(self, obj: AuditEvent) -> str | None:
        # The username as recorded: the trail outlives the user row.
        return obj.actor_username or None


class TrailQuerySerializer(StrictSerializer):
    """Only the paginator's parameters; anything else is a typo (400)."""

    cursor = serializers.CharField(required=False)
    page_size = serializers.IntegerField(required=False)


class CaseAuditView(generics.ListAPIView):
    scopes = {"get": Scope.ADMIN}
    permissions = {"get": "cases.view_auditevent"}
    denied = {"get": "Your role may not read audit trails."}
    serializer_class = AuditEventSerializer
    pagination_class = OldestFirstCursor

    def get_queryset(self) -> QuerySet[AuditEvent]:
        TrailQuerySerializer(data=self.request.query_params).is_valid(raise_exception=True)
        user = cast(AuthenticatedRequest, self.request).user
        case = get_object_or_404(case_list_for_user(user=user), pk=self.kwargs["pk"])
        return audit_trail_for_case(case=case)

    @extend_schema(
        operation_id="cases_audit",
        parameters=[CASE_ID],
        summary="A case's audit trail, oldest first",
        description="Every recorded event about the case, its images, reviews, predictions and "
        "adjudications: who, when, from where (source, address, client) and what. Needs the admin scope "
        "and a role that may read the audit trail (Curator). A case the account may not see is a 404.",
        responses={200: AuditEventSerializer(many=True), **errors(400, 403, 404)},
        examples=[
            example(
                "Created, then reviewed",
                {
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            "id": 101,
                            "at": "2025-06-02T08:00:00Z",
                            "action": "case.created",
                            "actor": "pacs",
                            "source": "",
                            "ip_address": None,
                            "user_agent": "",
                            "object_type": "cases.case",
                            "object_id": "42",
                            "detail": {"task": "brain_mri"},
                        },
                        {
                            "id": 117,
                            "at": "2025-06-02T09:14:03Z",
                            "action": "review.submitted",
                            "actor": "rev",
                            "source": "api",
                            "ip_address": "10.0.4.17",
                            "user_agent": "token 3f9a0c1e; python-requests/2.32",
                            "object_type": "cases.review",
                            "object_id": "88",
                            "detail": {
                                "case": 42,
                                "image": 97,
                                "decision": "confirm",
                                "label": "glioma",
                                "ai_label": "glioma",
                            },
                        },
                    ],
                },
            )
        ],
        tags=["audit"],
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
