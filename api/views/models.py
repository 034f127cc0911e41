"""Model versions: list and read them with their card and metrics; Curators activate and retire them.

Models hold no patient data, so every account with an API role may read
them. Activating and retiring go through the same services as the admin and
``manage.py activate_model``/``retire_model``, audited with source ``api``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import Scope
from api.pagination import NewestFirstCursor
from api.schema import errors, example, path_id
from api.views.base import AuthenticatedRequest, StrictSerializer, api_audit
from cases.task_registry import task_label
from inference.models import ModelVersion
from inference.selectors import active_ensemble
from inference.services import model_version_activate, model_version_retire

CHANGE = "inference.change_modelversion"
CHANGE_DENIED = "Your role may not activate or retire models."

MODEL_ID = path_id("The model version's id.")


class EnsembleMemberSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.label
    weight = serializers.FloatField()
    untrained = serializers.BooleanField()


class ModelVersionSerializer(serializers.ModelSerializer):
    label = serializers.CharField(  # type: ignore[assignment]  # a field, not Field.label
        read_only=True, help_text="name@version, with ' (untrained)' for random weights."
    )
    task_label = serializers.SerializerMethodField()
    class_names = serializers.ListField(
        child=serializers.CharField(), help_text="Output classes, in logit order."
    )
    card = serializers.JSONField(help_text="The bundle's model card (model.json) as registered.")
    metrics = serializers.SerializerMethodField(
        help_text="The card's validation metrics (split, calibrated/uncalibrated summaries, per class, "
        "confusion matrix); null when the card has none (an untrained model)."
    )
    ensemble = serializers.SerializerMethodField(
        help_text="The task's active versions now, lead first (highest weight, then oldest); empty when "
        "the task has no active model."
    )

    class Meta:
        model = ModelVersion
        fields = [
            "id", "name", "version", "label", "task", "task_label", "arch", "status", "weight", "untrained",
            "class_names", "weights_sha256", "created_at", "activated_at", "retired_at", "card", "metrics",
            "ensemble",
        ]  # fmt: skip
        read_only_fields = fields

    def get_task_label(self, obj: ModelVersion) -> str:
        return task_label(obj.task)

    def get_metrics(self, obj: ModelVersion) -> dict[str, Any] | None:
        metrics = obj.card.get("metrics") if isinstance(obj.card, dict) else None
        return metrics or None

    @staticmethod
    def _ensembles(context: dict[str, Any]) -> dict[str, list[ModelVersion]]:
        # One read per task on a page, not per row.
        found: dict[str, list[ModelVersion]] = context.setdefault("ensembles", {})
        return found

    @extend_schema_field(EnsembleMemberSerializer(many=True))
    def get_ensemble(self, obj: ModelVersion) -> list[dict[str, Any]]:
        ensembles = self._ensembles(self.context)
        if obj.task not in ensembles:
            ensembles[obj.task] = active_ensemble(task=obj.task)
        return [
            {
                "id": m.pk,
                "name": m.name,
                "version": m.version,
                "label": m.label,
                "weight": m.weight,
                "untrained": m.untrained,
            }
            for m in ensembles[obj.task]
        ]


class ModelFilterSerializer(StrictSerializer):
    """The list's query: its filters and the paginator's own parameters; anything else is a typo (400)."""

    task = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=ModelVersion.Status.choices, required=False)
    cursor = serializers.CharField(required=False)
    page_size = serializers.IntegerField(required=False)

    def to_internal_value(self, data: Any) -> Any:
        # DRF reads an empty query value of an optional field as absent; "?status=" is not a state.
        if hasattr(data, "get") and data.get("status") == "":
            raise serializers.ValidationError({"status": ["Must be one of the states, not empty."]})
        return super().to_internal_value(data)


class ActivateSerializer(StrictSerializer):
    """How to activate a version; an empty body activates it beside the task's other active versions."""

    exclusive = serializers.BooleanField(
        default=False,
        help_text="Also retire the task's other active versions (else they stay in the ensemble).",
    )


class RetireSerializer(StrictSerializer):
    """No fields: a retire takes no options."""


EXAMPLE = {
    "id": 3,
    "name": "brain_mri",
    "version": "2025.06.1",
    "label": "brain_mri@2025.06.1",
    "task": "brain_mri",
    "task_label": "Brain MRI",
    "arch": "resnet18",
    "status": "active",
    "weight": 1.0,
    "untrained": False,
    "class_names": ["glioma", "meningioma", "notumor", "pituitary"],
    "weights_sha256": "9f2c1b7e4d0a…",
    "created_at": "2025-06-02T08:00:00Z",
    "activated_at": "2025-06-02T08:05:00Z",
    "retired_at": None,
    "card": {"name": "brain_mri", "version": "2025.06.1", "task": "brain_mri", "arch": "resnet18", "…": "…"},
    "metrics": {
        "split": "validation (group-held-out)",
        "best_epoch": 22,
        "calibrated": {"accuracy": 0.911, "balanced_accuracy": 0.916, "macro_f1": 0.918, "macro_auc": 0.982},
    },
    "ensemble": [
        {
            "id": 3,
            "name": "brain_mri",
            "version": "2025.06.1",
            "label": "brain_mri@2025.06.1",
            "weight": 1.0,
            "untrained": False,
        }
    ],
}
TAGS = ["models"]


class ModelListView(generics.ListAPIView):
    scopes = {"get": Scope.READ}
    serializer_class = ModelVersionSerializer
    pagination_class = NewestFirstCursor

    def get_queryset(self) -> QuerySet[ModelVersion]:
        params = ModelFilterSerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        rows = ModelVersion.objects.all()
        if "task" in params.validated_data:
            rows = rows.filter(task=params.validated_data["task"])
        if "status" in params.validated_data:
            rows = rows.filter(status=params.validated_data["status"])
        return rows

    @extend_schema(
        operation_id="models_list",
        summary="Model versions, newest first",
        description="Every registered model version with its card and validation metrics. Models hold no "
        "patient data: any account with an API role may read them. Unknown query parameters are refused (400).",
        parameters=[
            OpenApiParameter(
                "task", str, description="Only this task's versions (a task key, e.g. brain_mri)."
            ),
            OpenApiParameter(
                "status", str, enum=ModelVersion.Status.values, description="Only versions in this state."
            ),
        ],
        responses={200: ModelVersionSerializer(many=True), **errors(400, 403)},
        examples=[example("One page", {"next": None, "previous": None, "results": [EXAMPLE]})],
        tags=TAGS,
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ModelDetailView(APIView):
    scopes = {"get": Scope.READ}

    @extend_schema(
        operation_id="models_retrieve",
        parameters=[MODEL_ID],
        summary="One model version with its card, metrics and the task's ensemble",
        responses={200: ModelVersionSerializer, **errors(403, 404)},
        examples=[example("Active model", EXAMPLE)],
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        version = get_object_or_404(ModelVersion, pk=pk)
        return Response(ModelVersionSerializer(version, context={"request": request}).data)


class ModelActivateView(APIView):
    scopes = {"post": Scope.ADMIN}
    permissions = {"post": CHANGE}
    denied = {"post": CHANGE_DENIED}

    @extend_schema(
        operation_id="models_activate",
        parameters=[MODEL_ID],
        summary="Activate a model version for new cases of its task",
        description="The version joins its task's active ensemble (with `exclusive`, it becomes the only "
        "member and the others retire). A retired version may be activated again. Audited as "
        "model.activated (and model.retired for each version retired) with source api. Needs the admin "
        "scope and a role that may change models (Curator).",
        request=ActivateSerializer,
        responses={200: ModelVersionSerializer, **errors(400, 403, 404)},
        examples=[
            example("Only this version", {"exclusive": True}, request=True),
            example("Activated", EXAMPLE),
        ],
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        version = get_object_or_404(ModelVersion, pk=pk)
        params = ActivateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        model_version_activate(
            version=version, audit=api_audit(request), exclusive=params.validated_data["exclusive"]
        )
        return Response(ModelVersionSerializer(version, context={"request": request}).data)


class ModelRetireView(APIView):
    scopes = {"post": Scope.ADMIN}
    permissions = {"post": CHANGE}
    denied = {"post": CHANGE_DENIED}

    @extend_schema(
        operation_id="models_retire",
        parameters=[MODEL_ID],
        summary="Retire a model version (stop using it for new cases)",
        description="Its stored predictions stay. Idempotent: retiring a retired version changes nothing "
        "and answers 200. Retiring the task's last active version is allowed, as in the admin: the "
        "answer's `ensemble` is then empty, new cases of the task get no prediction and try-outs of it "
        "are refused until a version is activated. Audited as model.retired with source api.",
        request=None,
        responses={200: ModelVersionSerializer, **errors(400, 403, 404)},
        examples=[
            example(
                "Retired",
                {**EXAMPLE, "status": "retired", "retired_at": "2025-07-01T10:00:00Z", "ensemble": []},
            )
        ],
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        version = get_object_or_404(ModelVersion, pk=pk)
        RetireSerializer(data=request.data).is_valid(raise_exception=True)
        model_version_retire(version=version, audit=api_audit(request))
        return Response(ModelVersionSerializer(version, context={"request": request}).data)
