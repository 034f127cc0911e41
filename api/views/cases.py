"""One case: its detail (images, predictions, blinded readings, decisions), changes to it, and a retry."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import Scope
from api.schema import errors, example
from api.serializers.cases import CaseChangeSerializer, CaseDetailSerializer
from api.views.base import AuthenticatedRequest, api_audit
from api.views.examples import CASE_EXAMPLE
from cases.models import Case
from cases.selectors import case_list_for_user, case_series
from cases.services.audit import audit_record
from cases.services.case import case_change_task, case_set_priority
from cases.services.review import readers_required
from inference.services import case_retry

CASE_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The case's id.")
NO_CHANGE = "Your role cannot change cases. Radiologists and Curators can."


def visible_case(request: AuthenticatedRequest, pk: int) -> Case:
    """The case if this account may see it; 404 (the same for a missing and a foreign case) otherwise."""
    try:
        return case_list_for_user(user=request.user).get(pk=pk)
    except Case.DoesNotExist:
        raise Http404("No such case, or it is not visible to this account.") from None


def case_detail_body(request: AuthenticatedRequest, case: Case) -> dict[str, Any]:
    """The case's detail for this account, audited as 'case.viewed' as the case page is.

    A constant number of queries whatever the number of images, predictions and readings.
    """
    audit_record(action="case.viewed", obj=case, site=case.site, audit=api_audit(request))
    images = [image for series in case_series(case=case) for image in series.images.all()]
    context = {"request": request, "images": images, "readers_required": readers_required(task=case.task)}
    return dict(CaseDetailSerializer(case, context=context).data)


class CaseDetailView(APIView):
    scopes = {"get": Scope.READ, "patch": Scope.UPLOAD}
    permissions = {"get": "cases.view_case", "patch": "cases.change_case"}
    denied = {"patch": NO_CHANGE}

    @extend_schema(
        operation_id="case_detail",
        summary="One case with its images, predictions, readings and decisions",
        description="The readings of an image are left out (`reviews` empty, `hidden_readings` counts them) "
        "while a blinded double read hides them from this reader. Each call is recorded in the case's "
        "audit trail as `case.viewed`.",
        parameters=[CASE_ID],
        responses={200: CaseDetailSerializer, **errors(403, 404)},
        examples=[example("Case in a blinded double read", CASE_EXAMPLE)],
        tags=["cases"],
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        return Response(case_detail_body(request, visible_case(request, pk)))

    @extend_schema(
        operation_id="case_change",
        summary="Change a case's task or priority",
        description="A new task re-queues the case's predictions for that task's models. Both changes "
        "happen together or not at all. Answers the updated case.",
        parameters=[CASE_ID],
        request=CaseChangeSerializer,
        responses={200: CaseDetailSerializer, **errors(400, 403, 404)},
        examples=[
            example("Make it urgent", {"priority": 1}, request=True),
            example("Set the task", {"task": "brain_mri", "priority": 2}, request=True),
            example("The updated case", CASE_EXAMPLE),
        ],
        tags=["cases"],
    )
    def patch(self, request: AuthenticatedRequest, pk: int) -> Response:
        case = visible_case(request, pk)
        params = CaseChangeSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        changes = params.validated_data
        audit = api_audit(request)
        with transaction.atomic():  # a refused priority leaves the task as it was
            if "task" in changes:
                case = case_change_task(case=case, task=changes["task"], user=request.user, audit=audit)
            if "priority" in changes:
                case = case_set_priority(
                    case=case, priority=changes["priority"], user=request.user, audit=audit
                )
        return Response(case_detail_body(request, visible_case(request, pk)))


class CaseRetryView(APIView):
    scopes = {"post": Scope.UPLOAD}
    permissions = {"post": "cases.change_case"}
    denied = {"post": "Your role cannot retry cases. Radiologists and Curators can."}

    @extend_schema(
        operation_id="case_retry",
        summary="Re-queue a failed case",
        description="Its failed predictions run again and missing ones are created. 409 unless the case "
        "has failed. Answers the case, now queued.",
        parameters=[CASE_ID],
        request=None,
        responses={202: CaseDetailSerializer, **errors(403, 404, 409)},
        examples=[example("Queued again", {**CASE_EXAMPLE, "status": "queued"}, status=202)],
        tags=["cases"],
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        case = visible_case(request, pk)
        case_retry(case=case, user=request.user, audit=api_audit(request))
        return Response(case_detail_body(request, visible_case(request, pk)), status=202)
