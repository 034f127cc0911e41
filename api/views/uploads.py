"""An upload's per-file report, as POST /studies/ answered it and GET /uploads/{batch_id}/ reads it again."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import Scope
from api.schema import errors, example, path_id
from api.serializers.cases import case_url
from api.views.base import AuthenticatedRequest
from cases.models import IntakeBatch
from cases.selectors import case_list_for_user, intake_batch_for_user

BATCH_ID = path_id(
    "The upload's batch_id, from the upload's answer.", name="batch_id", kind=OpenApiTypes.UUID
)


class UploadItemSerializer(serializers.Serializer):
    name = serializers.CharField(
        help_text="A neutral name by position, e.g. file-003.dcm: the name sent is never stored or shown."
    )
    status = serializers.ChoiceField(choices=["accepted", "duplicate"])
    reason = serializers.CharField(allow_blank=True, help_text="Why a duplicate added nothing.")
    image_id = serializers.IntegerField(allow_null=True)
    case_id = serializers.IntegerField(allow_null=True)
    study_instance_uid = serializers.CharField(allow_blank=True)
    series_instance_uid = serializers.CharField(allow_blank=True)
    sop_instance_uid = serializers.CharField(allow_blank=True)
    modality = serializers.CharField(allow_blank=True)
    warnings = serializers.ListField(child=serializers.CharField())
    position = serializers.IntegerField(
        help_text="1-based place of the file in the upload, zip entries counted in archive order."
    )


class RejectedItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    reason = serializers.CharField(help_text="Why the file was not stored.")
    position = serializers.IntegerField(help_text="1-based place of the file in the upload.")


class UploadReportSerializer(serializers.Serializer):
    batch_id = serializers.UUIDField()
    accepted = UploadItemSerializer(many=True, help_text="Files stored, each as an image of a case.")
    duplicates = UploadItemSerializer(many=True, help_text="Files already stored before: nothing added.")
    rejected = RejectedItemSerializer(many=True, help_text="Files refused, with the reason.")
    case_ids = serializers.ListField(child=serializers.IntegerField(), help_text="Cases that got images.")
    cases = serializers.ListField(child=serializers.URLField(), help_text="Those cases' API URLs.")
    report_url = serializers.URLField(help_text="This report, to read again later.")


EXAMPLE_REPORT = {
    "batch_id": "6f1c2a9e-3d4b-4e8f-9a31-5b7c0d2e8f14",
    "accepted": [
        {
            "name": "file-001.dcm",
            "status": "accepted",
            "reason": "",
            "image_id": 5120,
            "case_id": 4182,
            "study_instance_uid": "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322",
            "series_instance_uid": "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322",
            "sop_instance_uid": "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322",
            "modality": "CT",
            "warnings": [],
            "position": 1,
        }
    ],
    "duplicates": [],
    "rejected": [{"name": "file-002", "reason": "not a DICOM file or a JPEG/PNG/TIFF image", "position": 2}],
    "case_ids": [4182],
    "cases": ["https://oncoportal.example.org/api/v1/cases/4182/"],
    "report_url": "https://oncoportal.example.org/api/v1/uploads/6f1c2a9e-3d4b-4e8f-9a31-5b7c0d2e8f14/",
}


def upload_report_body(request: AuthenticatedRequest, report: dict[str, Any]) -> dict[str, Any]:
    """The stored report of an upload with the API URLs of its cases (those the account may see) and itself."""
    case_ids = list(report.get("case_ids", []))
    visible = set(case_list_for_user(user=request.user).filter(pk__in=case_ids).values_list("pk", flat=True))
    return {
        "batch_id": report["batch_id"],
        "accepted": report.get("accepted", []),
        "duplicates": report.get("duplicates", []),
        "rejected": report.get("rejected", []),
        "case_ids": case_ids,
        "cases": [case_url(request, pk) for pk in case_ids if pk in visible],
        "report_url": request.build_absolute_uri(
            reverse("api:upload_report", kwargs={"batch_id": report["batch_id"]})
        ),
    }


class UploadReportView(APIView):
    scopes = {"get": Scope.READ}

    @extend_schema(
        operation_id="uploads_retrieve",
        parameters=[BATCH_ID],
        summary="An upload's per-file report, again",
        description="What became of each file of an upload: the same body POST /studies/ answered. "
        "Only the account that uploaded sees it (Curators see every upload).",
        responses={200: UploadReportSerializer, **errors(403, 404)},
        examples=[example("Two files, one rejected", EXAMPLE_REPORT)],
        tags=["studies"],
    )
    def get(self, request: AuthenticatedRequest, batch_id: UUID) -> Response:
        try:
            batch = intake_batch_for_user(user=request.user, batch_id=str(batch_id))
        except IntakeBatch.DoesNotExist:
            raise Http404("No such upload.") from None
        return Response(upload_report_body(request, {"batch_id": str(batch.pk), **(batch.report or {})}))
