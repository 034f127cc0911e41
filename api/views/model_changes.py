"""Promote a model version through the gate, or roll back a change (Curators; docs/promotion.md).

The same services as the Models tab and ``manage.py promote_model`` /
``rollback_model``: a refusal (no fair evaluation, the gate's failing checks,
nothing to roll back to) is a 409 whose message says why.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import Scope
from api.schema import errors, example, path_id
from api.views.base import AuthenticatedRequest, StrictSerializer, api_audit
from inference.models import ModelVersion
from lifecycle.models import Evaluation, ModelChange
from lifecycle.services.promotion import model_promote, model_rollback

PROMOTE = "lifecycle.promote_model"
DENIED = "Your role may not promote or roll back models."
TAGS = ["models"]


class MemberSerializer(serializers.Serializer):
    version_id = serializers.IntegerField()
    version = serializers.CharField(help_text="name@version")
    weight = serializers.FloatField()


class ModelChangeSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="version.label", help_text="The new lead, name@version.")
    version_id = serializers.IntegerField()
    before = MemberSerializer(many=True, help_text="The active ensemble before, lead first.")
    after = MemberSerializer(many=True, help_text="The active ensemble after, lead first.")
    gate = serializers.JSONField(
        help_text="The gate's verdict: passed, summary, margins and each check (name, champion, candidate, "
        "margin, passed, reason); a roll-back or a task with no champion says it skipped the gate."
    )
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)

    class Meta:
        model = ModelChange
        fields = [
            "id", "task", "kind", "version", "version_id", "before", "after", "evaluation", "gate", "reason",
            "actor", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class PromoteSerializer(StrictSerializer):
    reason = serializers.CharField(default="", allow_blank=True, max_length=2000)
    evaluation = serializers.IntegerField(
        required=False, help_text="The evaluation the gate reads (default: the newest fair one)."
    )


class RollbackSerializer(StrictSerializer):
    reason = serializers.CharField(default="", allow_blank=True, max_length=2000)


CHANGE_EXAMPLE = {
    "id": 7,
    "task": "brain_mri",
    "kind": "promote",
    "version": "brain_mri@2026.12.1",
    "version_id": 12,
    "before": [{"version_id": 3, "version": "brain_mri@2025.06.1", "weight": 1.0}],
    "after": [{"version_id": 12, "version": "brain_mri@2026.12.1", "weight": 1.0}],
    "evaluation": 4,
    "gate": {
        "passed": True,
        "summary": "passed all 4 checks",
        "margins": {"macro_f1": 0.02, "sensitivity": 0.02},
        "checks": [
            {
                "name": "macro_f1",
                "label": "Macro-F1",
                "champion": 0.912,
                "candidate": 0.921,
                "margin": 0.02,
                "passed": True,
                "reason": "Macro-F1 0.921 is within 0.020 of the champion's 0.912",
            }
        ],
    },
    "reason": "retrained on the November corrections",
    "actor": "cur",
    "created_at": "2026-12-01T09:00:00Z",
}


class ModelPromoteView(APIView):
    scopes = {"post": Scope.ADMIN}
    permissions = {"post": PROMOTE}
    denied = {"post": DENIED}

    @extend_schema(
        operation_id="models_promote",
        parameters=[path_id("The candidate model version's id.")],
        summary="Promote a model version through the gate",
        description="The version becomes its task's only active version if a finished evaluation against the "
        "current champion (same members and weights) shows it is not worse beyond the margins on macro-F1 "
        "and on the sensitivity of each positive class. 409 with the reasons otherwise (no fair evaluation, "
        "the failing checks, already the champion). A task with no active model promotes without a gate. "
        "Audited as model.promoted.",
        request=PromoteSerializer,
        responses={201: ModelChangeSerializer, **errors(400, 403, 404, 409)},
        examples=[
            example("With a reason", {"reason": "retrained on the November corrections"}, request=True),
            example("Promoted", CHANGE_EXAMPLE, status=201),
        ],
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        candidate = get_object_or_404(ModelVersion, pk=pk)
        params = PromoteSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        evaluation = None
        if "evaluation" in params.validated_data:
            evaluation = get_object_or_404(Evaluation, pk=params.validated_data["evaluation"])
        change = model_promote(
            candidate=candidate,
            evaluation=evaluation,
            reason=params.validated_data["reason"],
            audit=api_audit(request),
        )
        return Response(ModelChangeSerializer(change).data, status=201)


class ModelRollbackView(APIView):
    scopes = {"post": Scope.ADMIN}
    permissions = {"post": PROMOTE}
    denied = {"post": DENIED}

    @extend_schema(
        operation_id="models_changes_rollback",
        parameters=[path_id("The promotion or roll-back to undo.")],
        summary="Roll back a model change",
        description="The ensemble active before the change (its members and weights) becomes active again, "
        "with no gate. 409 when there was none, a member no longer exists, or it is already active. Audited "
        "as model.rolled_back.",
        request=RollbackSerializer,
        responses={201: ModelChangeSerializer, **errors(400, 403, 404, 409)},
        examples=[
            example(
                "Rolled back",
                {
                    **CHANGE_EXAMPLE,
                    "id": 8,
                    "kind": "rollback",
                    "version": "brain_mri@2025.06.1",
                    "version_id": 3,
                    "before": CHANGE_EXAMPLE["after"],
                    "after": CHANGE_EXAMPLE["before"],
                    "evaluation": None,
                    "gate": {"skipped": True, "summary": "roll-back: no gate", "undoes_change": 7},
                },
                status=201,
            )
        ],
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        change = get_object_or_404(ModelChange, pk=pk)
        params = RollbackSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        done = model_rollback(change=change, reason=params.validated_data["reason"], audit=api_audit(request))
        return Response(ModelChangeSerializer(done).data, status=201)
