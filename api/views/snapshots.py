"""/api/v1/snapshots/: frozen dataset snapshots (Curators): list, freeze, read, export as a streamed zip."""

from __future__ import annotations

from typing import Any

from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import Scope
from api.pagination import NewestFirstCursor
from api.schema import CURSOR, PAGE_SIZE, errors, example
from api.views.base import AuthenticatedRequest, StrictSerializer, api_audit
from api.views.predictions import FirstRenderer
from curation.models import Snapshot
from curation.selectors_snapshots import snapshot_provenance_counts, snapshots_for_user
from curation.services.export import snapshot_export_stream
from curation.services.snapshots import snapshot_freeze

TAGS = ["snapshots"]
ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The snapshot's id.")
DENIED = "Only Curators see and freeze dataset snapshots."


class SnapshotSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    size = serializers.IntegerField(help_text="Images in all splits.")
    counts = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField()),
        help_text="Images per split (train, val, test) and class.",
    )
    class_names = serializers.ListField(child=serializers.CharField(), help_text="In the task's logit order.")

    class Meta:
        model = Snapshot
        fields = [
            "id", "name", "task", "version", "note", "content_hash", "seed", "val_fraction", "test_fraction",
            "include_base", "class_names", "counts", "size", "created_by", "created_at",
        ]  # fmt: skip


class SnapshotDetailSerializer(SnapshotSerializer):
    provenance = serializers.SerializerMethodField(help_text="Images per label provenance.")

    class Meta(SnapshotSerializer.Meta):
        fields = [*SnapshotSerializer.Meta.fields, "provenance"]

    def get_provenance(self, obj: Snapshot) -> dict[str, int]:
        return snapshot_provenance_counts(snapshot=obj)


class SnapshotFreezeInput(StrictSerializer):
    task = serializers.CharField(max_length=32, help_text="A task of the registry, e.g. brain_mri.")
    seed = serializers.IntegerField(
        default=0, min_value=0, max_value=2**31 - 1, help_text="The split's seed."
    )
    val_fraction = serializers.FloatField(
        default=0.15, min_value=0.01, max_value=0.9, help_text="Share of each class in validation."
    )
    test_fraction = serializers.FloatField(
        default=0.15,
        min_value=0.0,
        max_value=0.9,
        help_text="Share of each class in test (0: no test split).",
    )
    include_base = serializers.BooleanField(default=True, help_text="Merge the imported base data.")
    note = serializers.CharField(default="", allow_blank=True, max_length=2000)


SNAPSHOT_EXAMPLE: dict[str, Any] = {
    "id": 3,
    "name": "brain_mri-v3",
    "task": "brain_mri",
    "version": 3,
    "note": "after the November corrections",
    "content_hash": "5f0c3e9a" + "0" * 56,
    "seed": 0,
    "val_fraction": 0.15,
    "test_fraction": 0.15,
    "include_base": True,
    "class_names": ["glioma", "meningioma", "notumor", "pituitary"],
    "counts": {
        "train": {"glioma": 580, "meningioma": 590, "notumor": 280, "pituitary": 560},
        "val": {"glioma": 100, "meningioma": 105, "notumor": 50, "pituitary": 98},
        "test": {"glioma": 101, "meningioma": 104, "notumor": 49, "pituitary": 99},
    },
    "size": 2716,
    "created_by": "cur",
    "created_at": "2026-11-30T08:00:00Z",
}


def _snapshot(request: AuthenticatedRequest, pk: int) -> Snapshot:
    return get_object_or_404(snapshots_for_user(user=request.user), pk=pk)


class SnapshotListView(APIView):
    scopes = {"get": Scope.ADMIN, "post": Scope.ADMIN}
    permissions = {"get": "curation.view_snapshot", "post": "curation.add_snapshot"}
    denied = {"get": DENIED, "post": DENIED}
    pagination_class = NewestFirstCursor

    @extend_schema(
        operation_id="snapshots_list",
        summary="Dataset snapshots",
        description="Frozen, versioned datasets of the labelled examples (docs/snapshots.md), newest first.",
        parameters=[CURSOR, PAGE_SIZE],
        responses={200: SnapshotSerializer(many=True), **errors(403)},
        examples=[example("One snapshot", {"next": None, "previous": None, "results": [SNAPSHOT_EXAMPLE]})],
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(snapshots_for_user(user=request.user), request, view=self)
        return paginator.get_paginated_response(SnapshotSerializer(page, many=True).data)

    @extend_schema(
        operation_id="snapshots_create",
        summary="Freeze a snapshot",
        description="Freeze the task's included, labelled examples as its next version, split by group "
        "(train/val/test, stratified by class; the same inputs give the same split and hash). 400 when the "
        "task is unknown, has no examples, lacks a class or has too few groups of one, or the fractions "
        "sum to 1 or more; 409 when nothing changed since the task's newest snapshot (the message names it).",
        request=SnapshotFreezeInput,
        responses={201: SnapshotDetailSerializer, **errors(400, 403, 409)},
        examples=[
            example(
                "Freeze brain MRI",
                {"task": "brain_mri", "note": "after the November corrections"},
                request=True,
            ),
            example(
                "Frozen", {**SNAPSHOT_EXAMPLE, "provenance": {"base": 2400, "corrected": 316}}, status=201
            ),
        ],
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        params = SnapshotFreezeInput(data=request.data)
        params.is_valid(raise_exception=True)
        snapshot = snapshot_freeze(**params.validated_data, audit=api_audit(request))
        return Response(SnapshotDetailSerializer(snapshot).data, status=201)


class SnapshotDetailView(APIView):
    scopes = {"get": Scope.ADMIN}
    permissions = {"get": "curation.view_snapshot"}
    denied = {"get": DENIED}

    @extend_schema(
        operation_id="snapshots_retrieve",
        summary="One dataset snapshot",
        description="Its split parameters, counts per split and class, and images per label provenance.",
        parameters=[ID],
        responses={200: SnapshotDetailSerializer, **errors(403, 404)},
        examples=[
            example("A snapshot", {**SNAPSHOT_EXAMPLE, "provenance": {"base": 2400, "corrected": 316}})
        ],
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        return Response(SnapshotDetailSerializer(_snapshot(request, pk)).data)


class SnapshotExportView(APIView):
    scopes = {"get": Scope.ADMIN}
    permissions = {"get": "curation.view_snapshot"}
    denied = {"get": DENIED}
    content_negotiation_class = FirstRenderer

    @extend_schema(
        operation_id="snapshots_export",
        summary="Export a snapshot (zip)",
        description="The snapshot as a zip streamed as it is written: `<name>/manifest.csv`, "
        "`dataset_card.json`, `DATASET_CARD.md` and `<name>/<split>/<class>/<image id>.<ext>`. Every "
        "image's SHA-256 is checked against the manifest on the way; 409 when the stored manifest no longer "
        "matches (a changed image found later cuts the download short, leaving an invalid zip).",
        parameters=[ID],
        responses={(200, "application/zip"): OpenApiTypes.BINARY, **errors(403, 404, 409)},
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> StreamingHttpResponse:
        snapshot = _snapshot(request, pk)
        chunks = snapshot_export_stream(snapshot, audit=api_audit(request))
        response = StreamingHttpResponse(chunks, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{snapshot.name}.zip"'
        return response
