"""Readings of a case (blinded as on the case page), submitting one, and the Curators' adjudications."""

from __future__ import annotations

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import Scope
from api.pagination import NewestFirstCursor
from api.schema import errors, example
from api.serializers.cases import AdjudicationQueueItemSerializer
from api.serializers.reviews import (
    AdjudicationCreatedSerializer,
    LabelRequestSerializer,
    ReviewCreatedSerializer,
    ReviewSerializer,
)
from api.views.base import AuthenticatedRequest, api_audit
from api.views.cases import CASE_ID, visible_case
from api.views.examples import CASE_EXAMPLE, REVIEW_EXAMPLE
from cases.models import Case, Image
from cases.selectors import adjudication_queue_for_user, case_reviews_for_user
from cases.services.adjudication import adjudication_submit
from cases.services.review import review_submit

NO_REVIEW = "Your role cannot review cases. Reviewers and Curators can."
NO_ADJUDICATE = "Only Curators adjudicate disagreements between readers."
_SUMMARY_KEYS = (
    "id", "url", "site", "task", "task_label", "status", "priority", "priority_label",
    "flagged", "ai", "image_count", "created_at", "status_changed_at",
)  # fmt: skip


def image_of(case: Case, image_id: int) -> Image:
    """One image of this case; 404 for any other (another case's, or another site's)."""
    try:
        return case.images.get(pk=image_id)
    except Image.DoesNotExist:
        raise Http404("No such image in this case.") from None


def label_submission(request: AuthenticatedRequest, case: Case) -> dict[str, Any]:
    """A checked label body for one image of ``case``: the keyword arguments of review_submit and adjudication_submit.

    400 for a bad body, 404 for an image that is not the case's.
    """
    params = LabelRequestSerializer(data=request.data)
    params.is_valid(raise_exception=True)
    data = params.validated_data
    return {
        "image": image_of(case, data["image"]),
        "label": data.get("label", ""),
        "non_diagnostic": data["non_diagnostic"],
        "note": data["note"],
        "audit": api_audit(request),
    }


class CaseReviewsView(APIView):
    scopes = {"get": Scope.READ, "post": Scope.REVIEW}
    permissions = {"get": "cases.view_case", "post": "cases.review_case"}
    denied = {"post": NO_REVIEW}
    pagination_class = NewestFirstCursor

    @extend_schema(
        operation_id="case_reviews",
        summary="The case's readings, newest first",
        description="Blinded as on the case page: in a double read, an image's readings are left out "
        "for a reader who has not read it yet, until it has all its readings.",
        parameters=[CASE_ID],
        responses={200: ReviewSerializer(many=True), **errors(403, 404)},
        examples=[example("One reading", {"next": None, "previous": None, "results": [REVIEW_EXAMPLE]})],
        tags=["reviews"],
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        case = visible_case(request, pk)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            case_reviews_for_user(user=request.user, case=case), request, view=self
        )
        return paginator.get_paginated_response(ReviewSerializer(page, many=True).data)

    @extend_schema(
        operation_id="review_submit",
        summary="Read one image: its label, or non-diagnostic",
        description="The AI result shown at this moment is frozen into the reading. The first reading "
        "puts the case in review; once every image has its readings the case is reviewed, or goes to "
        "adjudication when two readers disagreed. 400 for a label outside the task's classes (the "
        "message lists them); 409 for an image you have read already or a case not reviewable now.",
        parameters=[CASE_ID],
        request=LabelRequestSerializer,
        responses={201: ReviewCreatedSerializer, **errors(400, 403, 404, 409)},
        examples=[
            example("A label", {"image": 97, "label": "meningioma", "note": "dural tail"}, request=True),
            example("Non-diagnostic", {"image": 97, "non_diagnostic": True}, request=True),
            example("Saved", {**REVIEW_EXAMPLE, "case_status": "reviewed"}, status=201),
        ],
        tags=["reviews"],
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        case = visible_case(request, pk)
        review = review_submit(case=case, reviewer=request.user, **label_submission(request, case))
        case.refresh_from_db(fields=["status"])
        return Response({**ReviewSerializer(review).data, "case_status": case.status}, status=201)


class AdjudicationQueueCursor(NewestFirstCursor):
    """The disagreements longest waiting first (each item says its priority)."""

    ordering = ("status_changed_at", "pk")


class AdjudicationQueueView(APIView):
    scopes = {"get": Scope.READ}
    permissions = {"get": "cases.adjudicate_case"}
    denied = {"get": NO_ADJUDICATE}
    pagination_class = AdjudicationQueueCursor

    @extend_schema(
        operation_id="adjudication_queue",
        summary="Cases awaiting adjudication, with their disputed readings",
        description="Cases whose readers disagreed, longest waiting first; for each, the images the "
        "readers disagreed on with every reading of them, and whether a Curator has decided it yet.",
        responses={200: AdjudicationQueueItemSerializer(many=True), **errors(403)},
        examples=[
            example(
                "One disagreement",
                {
                    "next": None,
                    "previous": None,
                    "results": [
                        {
                            **{key: CASE_EXAMPLE[key] for key in _SUMMARY_KEYS},
                            "status": "adjudication",
                            "disputed": [
                                {
                                    "image": 97,
                                    "readings": [
                                        REVIEW_EXAMPLE,
                                        {
                                            **REVIEW_EXAMPLE,
                                            "id": 61,
                                            "reviewer": "dr.okafor",
                                            "decision": "correct",
                                            "label": "glioma",
                                        },
                                    ],
                                    "adjudicated": False,
                                }
                            ],
                        }
                    ],
                },
            )
        ],
        tags=["reviews"],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(adjudication_queue_for_user(user=request.user), request, view=self)
        context: dict[str, Any] = {"request": request}
        return paginator.get_paginated_response(
            AdjudicationQueueItemSerializer(page, many=True, context=context).data
        )


class CaseAdjudicationsView(APIView):
    scopes = {"post": Scope.REVIEW}
    permissions = {"post": "cases.adjudicate_case"}
    denied = {"post": NO_ADJUDICATE}

    @extend_schema(
        operation_id="adjudication_submit",
        summary="Decide a disputed image: the final label, or non-diagnostic",
        description="The readings weighed and the AI result shown are frozen into the decision; the case "
        "is reviewed once no disputed image is left. 400 for a label outside the task's classes or an "
        "image the readers agreed on; 409 for a case not awaiting adjudication, an image already "
        "decided, or an image you read yourself.",
        parameters=[CASE_ID],
        request=LabelRequestSerializer,
        responses={201: AdjudicationCreatedSerializer, **errors(400, 403, 404, 409)},
        examples=[
            example("Final label", {"image": 97, "label": "meningioma", "note": "dural tail"}, request=True),
            example(
                "Decided",
                {
                    "id": 7,
                    "case": 42,
                    "image": 97,
                    "label": "meningioma",
                    "non_diagnostic": False,
                    "curator": "dr.lindqvist",
                    "note": "dural tail",
                    "decided_at": "2026-03-02T11:02:45Z",
                    "case_status": "reviewed",
                },
                status=201,
            ),
        ],
        tags=["reviews"],
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        case = visible_case(request, pk)
        decision = adjudication_submit(case=case, curator=request.user, **label_submission(request, case))
        case.refresh_from_db(fields=["status"])
        body = AdjudicationCreatedSerializer({"case_status": case.status, **_decision_fields(decision)}).data
        return Response(body, status=201)


def _decision_fields(decision: Any) -> dict[str, Any]:
    return {
        "id": decision.pk,
        "case_id": decision.case_id,
        "image_id": decision.image_id,
        "label": decision.label,
        "non_diagnostic": decision.non_diagnostic,
        "curator": decision.curator,
        "note": decision.note,
        "decided_at": decision.decided_at,
    }
