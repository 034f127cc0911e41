"""The worklist as an API: the cases the account may see, filtered and ordered as on the web page."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.filters import POSITIVE, case_list_filters
from api.models import Scope
from api.pagination import WorklistCursor
from api.schema import PAGE_SIZE, errors, example
from api.serializers.cases import CaseSummarySerializer
from api.views.base import AuthenticatedRequest
from cases.models import CaseStatus
from cases.selectors import WorklistOrder, worklist_for_user, worklist_rows


class CaseListPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page; null on the last.")
    previous = serializers.URLField(allow_null=True, help_text="The page before; null on the first.")
    results = CaseSummarySerializer(many=True)


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
    PAGE_SIZE,
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
        responses={200: CaseListPageSerializer, **errors(400, 403, 404)},
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
    def get(self, request: AuthenticatedRequest) -> Response:
        form = case_list_filters(request.query_params, user=request.user)
        order = form.ordering()
        cases = worklist_for_user(user=request.user, order=order).filter(form.filters())
        paginator = WorklistCursor()
        ids = paginator.paginate(cases, request, order=order)
        rows = worklist_rows(user=request.user, case_ids=ids)
        return paginator.response(
            list(CaseSummarySerializer(rows, many=True, context={"request": request}).data)
        )
