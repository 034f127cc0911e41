"""/api/v1/: a case's result objects (SR, SC) with how sending each to the PACS went, and Resend."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import DeliveryStatus, Scope
from api.schema import errors, example, path_id
from api.views.base import AuthenticatedRequest, api_audit
from api.views.cases import visible_case
from cases.selectors import case_list_for_user
from oncoportal.exceptions import TransitionNotAllowed
from results.models import ResultDelivery, ResultKind, ResultObject
from results.services.delivery import deliveries_resend

TAGS = ["results"]
CASE_ID = path_id("The case's id.")
RESULT_ID = path_id("The result object's id.")


class LogEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    outcome = serializers.ChoiceField(choices=["queued", "success", "warning", "retry", "failed", "resend"])
    status = serializers.CharField(help_text="The DICOM status (0x0000) or HTTP status, when there was one.")
    detail = serializers.CharField()
    attempt = serializers.IntegerField(required=False)


class ResultDeliverySerializer(serializers.ModelSerializer):
    destination = serializers.CharField(source="destination.name")
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    log = LogEntrySerializer(many=True, help_text="Every attempt, oldest first.")

    class Meta:
        model = ResultDelivery
        fields = [
            "id", "destination", "status", "attempts", "last_status", "last_error", "next_attempt_at",
            "created_at", "delivered_at", "log",
        ]  # fmt: skip


class ResultObjectSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=ResultKind.choices)
    deliveries = ResultDeliverySerializer(many=True)

    class Meta:
        model = ResultObject
        fields = [
            "id", "kind", "study_instance_uid", "series_instance_uid", "sop_instance_uid", "sop_class_uid",
            "series_number", "instance_number", "created_at", "deliveries",
        ]  # fmt: skip


DELIVERY_EXAMPLE: dict[str, Any] = {
    "id": 12,
    "destination": "Main PACS",
    "status": "succeeded",
    "attempts": 1,
    "last_status": "0x0000",
    "last_error": "",
    "next_attempt_at": None,
    "created_at": "2026-11-29T10:02:00Z",
    "delivered_at": "2026-11-29T10:02:03Z",
    "log": [
        {"at": "2026-11-29T10:02:00+00:00", "outcome": "queued", "status": "", "detail": ""},
        {
            "at": "2026-11-29T10:02:03+00:00",
            "outcome": "success",
            "status": "0x0000",
            "detail": "stored",
            "attempt": 1,
        },
    ],
}
RESULT_EXAMPLE: dict[str, Any] = {
    "id": 7,
    "kind": "ai_sr",
    "study_instance_uid": "1.2.826.0.1.3680043.8.498.1",
    "series_instance_uid": "1.2.826.0.1.3680043.8.498.2",
    "sop_instance_uid": "1.2.826.0.1.3680043.8.498.3",
    "sop_class_uid": "1.2.840.10008.5.1.4.1.1.88.34",
    "series_number": 901,
    "instance_number": 1,
    "created_at": "2026-11-29T10:02:00Z",
    "deliveries": [DELIVERY_EXAMPLE],
}


def _results(queryset: Any) -> Any:
    return queryset.select_related("case").prefetch_related("deliveries__destination")


class CaseResultsView(APIView):
    scopes = {"get": Scope.READ}
    permissions = {"get": "cases.view_case"}

    @extend_schema(
        operation_id="case_results",
        summary="A case's result objects and their deliveries",
        description="The DICOM objects built for the case (saliency Secondary Captures, the AI SR, the "
        "review SR), each with its deliveries to the PACS destinations and their logs.",
        parameters=[CASE_ID],
        responses={200: ResultObjectSerializer(many=True), **errors(403, 404)},
        examples=[example("Sent to the PACS", [RESULT_EXAMPLE])],
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        case = visible_case(request, pk)
        objects = _results(ResultObject.objects.filter(case=case))
        return Response(ResultObjectSerializer(objects, many=True).data)


class ResultResendView(APIView):
    scopes = {"post": Scope.ADMIN}
    permissions = {"post": "results.change_resultdelivery"}
    denied = {"post": "Only Curators resend results."}

    @extend_schema(
        operation_id="result_resend",
        summary="Send a result object again",
        description="Every delivery of the object goes back to pending with a fresh retry schedule, "
        "whatever its status; audited. 409 when it was never queued to a destination.",
        parameters=[RESULT_ID],
        request=None,
        responses={202: ResultObjectSerializer, **errors(403, 404, 409)},
        examples=[
            example(
                "Queued again",
                {**RESULT_EXAMPLE, "deliveries": [{**DELIVERY_EXAMPLE, "status": "pending", "attempts": 0}]},
                status=202,
            )
        ],
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        visible = ResultObject.objects.filter(case__in=case_list_for_user(user=request.user))
        result = _results(visible).filter(pk=pk).first()
        if result is None:
            raise Http404("No such result object, or it is not visible to this account.")
        deliveries = list(result.deliveries.all())
        if not deliveries:
            raise TransitionNotAllowed("this object was never queued to a destination: nothing to resend")
        deliveries_resend(deliveries=deliveries, audit=api_audit(request))
        return Response(ResultObjectSerializer(_results(visible).get(pk=pk)).data, status=202)
