"""One prediction, and its saliency files: the overlay and the full-resolution Grad-CAM map (PNG)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import Scope
from api.schema import errors, example
from api.serializers.predictions import PredictionSerializer
from api.views.base import AuthenticatedRequest
from api.views.examples import PREDICTION_EXAMPLE
from cases.views.images import stored_png
from inference.models import Prediction
from inference.scoring import prediction_file_name
from inference.selectors import prediction_for_user

PREDICTION_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="The prediction's id.")
NO_MAP = "This prediction has no saliency map (or it is gone)."


def visible_prediction(request: AuthenticatedRequest, pk: int) -> Prediction:
    """The prediction if its case is visible to this account; 404 (the same for missing and foreign) otherwise."""
    try:
        return prediction_for_user(user=request.user, prediction_id=pk)
    except Prediction.DoesNotExist:
        raise Http404("No such prediction, or it is not visible to this account.") from None


class PredictionDetailView(APIView):
    scopes = {"get": Scope.READ}
    permissions = {"get": "cases.view_case"}

    @extend_schema(
        operation_id="prediction_detail",
        summary="One prediction",
        description="The AI result for one image: label, probabilities, uncertainty, the model version, "
        "and links to its saliency PNGs (null without a map).",
        parameters=[PREDICTION_ID],
        responses={200: PredictionSerializer, **errors(403, 404)},
        examples=[example("A finished prediction", PREDICTION_EXAMPLE)],
        tags=["predictions"],
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        prediction = visible_prediction(request, pk)
        return Response(PredictionSerializer(prediction, context={"request": request}).data)


class FirstRenderer(BaseContentNegotiation):
    """Serve whatever the client accepts: the body is a PNG, and an error is the API's JSON either way."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        parsers = list(parsers)
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        return renderers[0], renderers[0].media_type


class _PredictionFileView(APIView):
    scopes = {"get": Scope.READ}
    permissions = {"get": "cases.view_case"}
    content_negotiation_class = FirstRenderer
    kind = ""

    def serve(self, request: AuthenticatedRequest, pk: int) -> FileResponse:
        prediction = visible_prediction(request, pk)
        try:
            # Rendered from the stored map on first request and cached in storage, as the web view does.
            name = prediction_file_name(prediction, self.kind)
        except (FileNotFoundError, ValueError):
            raise Http404(NO_MAP) from None
        return stored_png(name, missing=NO_MAP)


_FILE_RESPONSES: dict[Any, Any] = {(200, "image/png"): OpenApiTypes.BINARY, **errors(403, 404)}


class PredictionOverlayView(_PredictionFileView):
    kind = "overlay"

    @extend_schema(
        operation_id="prediction_overlay",
        summary="The prediction's saliency overlay (PNG)",
        description="The Grad-CAM map laid over the frame the model saw, as an RGB PNG. 404 when the "
        "prediction has no map (not finished, or failed).",
        parameters=[PREDICTION_ID],
        responses=_FILE_RESPONSES,
        tags=["predictions"],
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> FileResponse:
        return self.serve(request, pk)


class PredictionSaliencyView(_PredictionFileView):
    kind = "saliency"

    @extend_schema(
        operation_id="prediction_saliency",
        summary="The prediction's full-resolution Grad-CAM map (16-bit PNG)",
        description="The map at the image's own size, 0-65535 for 0-1, for a viewer to colour and blend. "
        "404 when the prediction has no map (not finished, or failed).",
        parameters=[PREDICTION_ID],
        responses=_FILE_RESPONSES,
        tags=["predictions"],
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> FileResponse:
        return self.serve(request, pk)
