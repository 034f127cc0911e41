"""The worklist as an API: the cases the account may see, filtered and ordered as on the web page."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.filters import POSITIVE, case_list_filters
from api.models import Scope
from api.pagination import WorklistCursor
from api.schema import errors, example
from cases.models import Case, CaseStatus
from cases.selectors import WorklistOrder, worklist_for_user, worklist_rows


def case_url(request: Request, case_id: int) -> str:
    """The absolute URL of a case in the API (``/api/v1/cases/{id}/``)."""
    return f"{cases_url(request)}{case_id}/"


def cases_url(request: Request) -> str:
    """The absolute URL of the case list, worked out once per request (a list page needs it for every row)."""
    cached: str | None = getattr(request, "_cases_url", None)
    if cached is None:
        cached = request.build_absolute_uri(reverse("api:case-list"))
        request._cases_url = cached  # type: ignore[attr-defined]
    return cached


class CaseAiSerializer(serializers.Serializer):
    label = serializers.CharField(help_text="The AI's label for the case; empty before a prediction.")
    confidence = serializers.FloatField(allow_null=True)
    uncertainty = serializers.FloatField(
        allow_null=True, help_text="Highest normalised entropy of its images."
    )
    positive = serializers.BooleanField(help_text="The AI reports a tumour or malignancy.")
    untrained = serializers.BooleanField(help_text="From a model with random weights: not a finding.")


class CaseListItemSerializer(serializers.Serializer):
    """One case of a list (the worklist row): no images, no predictions; follow ``url`` for those."""

    id = serializers.IntegerField()
    url = serializers.URLField()
    site = serializers.CharField(help_text="The site code.")
    task = serializers.CharField()
    task_label = serializers.CharField()
    status = serializers.ChoiceField(choices=CaseStatus.choices)
    priority = serializers.IntegerField(help_text="0 routine, 1 urgent, 2 STAT.")
    priority_label = serializers.CharField()
    flagged = serializers.BooleanField()
    ai = CaseAiSerializer()
    image_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    status_changed_at = serializers.DateTimeField()


class CaseListPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page; null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The page before; null on the first.")
    results = CaseListItemSerializer(many=True)


_DATETIME = serializers.DateTimeField()  # as every serializer writes a datetime (ISO 8601, Z for UTC)


def case_list_item(request: Request, case: Case) -> dict[str, Any]:
    """The list shape of a case (``case`` from ``worklist_rows``, which counts its images)."""
    return {
        "id": case.pk,
        "url": case_url(request, case.pk),
        "site": case.site.code,
        "task": case.task,
        "task_label": case.get_task_display(),
        "status": case.status,
        "priority": case.priority,
        "priority_label": case.get_priority_display(),
        "flagged": case.flagged,
        "ai": {
            "label": case.ai_label,
            "confidence": case.ai_confidence,
            "uncertainty": case.ai_uncertainty,
            "positive": case.ai_positive,
            "untrained": case.ai_untrained,
        },
        "image_count": getattr(case, "image_count", None) or 0,
        "created_at": _DATETIME.to_representation(case.created_at),
        "status_changed_at": _DATETIME.to_representation(case.status_changed_at),
    }


EXAMPLE_CASE = {
    "id": 4182,
    "url": "https://oncoportal.example.org/api/v1/cases/4182/",
    "site": "uh-radiology",
    "task": "brain_mri",
    "task_label": "Brain MRI tumour classification",
    "status": "predicted",
    "priority": 1,
    "priority_label": "Urgent",
    "flagged": False,
    "ai": {"label": "glioma", "confidence": 0.91, "uncertainty": 0.22, "positive": True, "untrained": False},
    "image_count": 1,
    "created_at": "2026-11-30T08:12:44.120931Z",
    "status_changed_at": "2026-11-30T08:13:02.551204Z",
}

PARAMETERS = [
    OpenApiParameter("status", str, enum=CaseStatus.values, description="Cases in this status."),
    OpenApiParameter("task", str, description="A task key (see the task registry), or `unassigned`."),
    OpenApiParameter(
        "ai_label",
        str,
        description=f"The case's AI label (a class name), or `{POSITIVE}`: any tumour or malignancy.",
    ),
    OpenApiParameter(
        "finding",
        str,
        description="A class name: cases with any image whose newest finished prediction says it.",
    ),
    OpenApiParameter("received_from", OpenApiTypes.DATE, description="Received on or after this day."),
    OpenApiParameter("received_to", OpenApiTypes.DATE, description="Received on or before this day."),
    OpenApiParameter("mine", bool, description="`true`: only cases assigned to me."),
    OpenApiParameter("flagged", bool, description="`true`: only flagged cases."),
    OpenApiParameter(
        "site", str, description="A site code. Only for accounts that see every site (Curators)."
    ),
    OpenApiParameter(
        "order",
        str,
        enum=WorklistOrder.values,
        description="findings (default): priority, AI findings, then most uncertain; uncertainty: most "
        "uncertain first; newest: priority, then newest; waiting: priority, then longest waiting.",
    ),
    OpenApiParameter(
        "cursor", str, description="From `next` or `previous`; only valid with the order it was made for."
    ),
    OpenApiParameter(
        "page_size",
        int,
        description=f"Cases per page: default {WorklistCursor.page_size}, at most "
        f"{WorklistCursor.max_page_size}.",
    ),
]


class CaseListView(APIView):
    scopes = {"get": Scope.READ}

    @extend_schema(
        operation_id="cases_list",
        summary="The worklist: cases you may see, filtered and ordered",
        description="The web worklist's filters and orders. An unknown parameter or an invalid value is a "
        "400 (the web page ignores them; a client should not). Keyset pages: follow `next`; a page "
        "costs the same however deep it is, and new cases never shift the pages you are walking.",
        parameters=PARAMETERS,
        responses={200: CaseListPageSerializer, **errors(400, 403)},
        examples=[
            example(
                "A page of the worklist",
                {
                    "next": "https://oncoportal.example.org/api/v1/cases/?order=findings&cursor=eyJv...",
                    "previous": None,
                    "results": [EXAMPLE_CASE],
                },
            )
        ],
        tags=["cases"],
    )
    def get(self, request: Request) -> Response:
        form = case_list_filters(request.query_params, user=request.user)
        order = form.ordering()
        cases = worklist_for_user(user=request.user, order=order).filter(form.filters())
        paginator = WorklistCursor()
        ids = paginator.paginate(cases, request, order=order)
        rows = worklist_rows(user=request.user, case_ids=ids)
        return paginator.response([case_list_item(request, case) for case in rows])
