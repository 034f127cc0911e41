"""Score one image (the try-out): through the task's active model, answered in seconds, kept an hour at most.

Nothing of it becomes a case. The image is checked and de-identified as an
upload would be (``inference.tryout.services``); a worker scores it. The
POST waits for the result up to ``wait`` seconds, polling the row with no
transaction open, so a quick model answers in one call (200) and a slow one
answers 202 with the URL to poll. Only the account that sent the image ever
sees it: anyone else gets 404.
"""

from __future__ import annotations

import time
from typing import Any, NoReturn
from uuid import UUID

from django.conf import settings
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.models import Scope
from api.schema import errors, example, path_id
from api.views.base import AuthenticatedRequest, StrictSerializer, api_audit
from api.views.predictions import FirstRenderer
from cases.views.images import stored_png
from inference.models import ResultStatus, TryOut
from inference.scoring import tryout_png_name
from inference.tryout.selectors import tryout_for_user, tryout_overlay_ready, tryout_result
from inference.tryout.services import tryout_discard, tryout_start
from oncoportal.http import UploadMessages, upload_guard

TAGS = ["score"]
MAX_WAIT_S = 30.0
POLL_S = 0.2
GONE = "No such try-out: it was discarded, has expired, or belongs to another account."
NO_FILE = "This try-out has no such file (yet, or any more)."
MESSAGES = UploadMessages(too_large="This request is {size}, over the {limit} limit. Nothing was stored.")

TRYOUT_ID = path_id("The try-out's id (from score/ or its status_url).", kind=OpenApiTypes.UUID)


class RequestTooLarge(APIException):
    status_code = 413
    default_code = "too_large"
    default_detail = "The request body is too large. Nothing was stored."


def _refuse(status: int, message: str) -> NoReturn:
    # The guard runs with CSRF and parsing off, so its only refusal is the size (413).
    raise RequestTooLarge(message)


class ScoreSerializer(StrictSerializer):
    """The multipart form of a scoring request."""

    file = serializers.FileField(
        allow_empty_file=True,  # the service says why an empty file is refused
        help_text="One image: a DICOM file, or a JPEG, PNG or TIFF. Not an archive (send studies to "
        "POST /api/v1/studies/).",
    )
    task = serializers.CharField(help_text="A task with an active model, e.g. brain_mri.")
    wait = serializers.FloatField(
        min_value=0,
        max_value=MAX_WAIT_S,
        default=10.0,
        help_text="Seconds to wait for the result before answering 202 (0 to 30, default 10).",
    )


class ScoreResultSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=ResultStatus.choices)
    task = serializers.CharField()
    label = serializers.CharField(  # type: ignore[assignment]  # a field, not Field.label
        help_text="The top class; empty until done, and empty when the image is outside the model's scope."
    )
    confidence = serializers.FloatField(allow_null=True)
    probabilities = serializers.DictField(
        child=serializers.FloatField(),
        help_text="Per class; {} until done or when outside the model's scope.",
    )
    in_scope = serializers.BooleanField(
        allow_null=True,
        help_text="The model's input suitability check: false means the image is unlike the model's training "
        "images and gets no class; null when the model has no check or before a result.",
    )
    scope_ratio = serializers.FloatField(
        allow_null=True, help_text="The check's score over its threshold; above 1 is outside the scope."
    )
    uncertainty = serializers.FloatField(allow_null=True, help_text="Normalised entropy in [0, 1].")
    untrained = serializers.BooleanField(help_text="Random weights: the label is not a diagnosis.")
    models = serializers.ListField(
        child=serializers.CharField(), help_text="The ensemble's members, lead first."
    )
    device = serializers.CharField()
    timings = serializers.DictField(
        child=serializers.FloatField(allow_null=True), help_text="Milliseconds per stage."
    )
    error = serializers.CharField(help_text="Why it failed; empty otherwise.")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text="When the try-out and its files are deleted.")
    status_url = serializers.URLField(help_text="GET it to poll.")
    image_url = serializers.URLField(help_text="The frame the model saw, as an 8-bit PNG.")
    overlay_url = serializers.URLField(
        allow_null=True, help_text="The saliency overlay (PNG); null until done."
    )


def _url(request: AuthenticatedRequest, name: str, item: TryOut) -> str:
    return request.build_absolute_uri(reverse(f"api:{name}", args=[item.pk]))


def score_body(request: AuthenticatedRequest, item: TryOut) -> dict[str, Any]:
    """The try-out's result as the API shows it: the page's result, with the API's own URLs."""
    return dict(
        ScoreResultSerializer(
            {
                **tryout_result(item),
                "status_url": _url(request, "score_detail", item),
                "image_url": _url(request, "score_image", item),
                "overlay_url": _url(request, "score_overlay", item) if tryout_overlay_ready(item) else None,
            }
        ).data
    )


def _own(request: AuthenticatedRequest, pk: UUID | str) -> TryOut:
    try:
        return tryout_for_user(user=request.user, tryout_id=pk)
    except TryOut.DoesNotExist:
        raise Http404(GONE) from None


def _wait_until_finished(pk: UUID, seconds: float) -> None:
    """Poll the row's status until done or failed, gone, or ``seconds`` passed.

    No transaction is open here (the API runs without ATOMIC_REQUESTS), so each
    read sees what the worker committed.
    """
    deadline = time.monotonic() + seconds
    finished = (ResultStatus.DONE, ResultStatus.FAILED)
    while True:
        row = TryOut.objects.filter(pk=pk).values("status").first()
        if row is None or row["status"] in finished or time.monotonic() >= deadline:
            return
        time.sleep(POLL_S)


DONE_EXAMPLE = {
    "id": "5b0f6c9e-2a4d-4f0e-9d53-2f1c7a8e9b10",
    "status": "done",
    "task": "brain_mri",
    "label": "glioma",
    "confidence": 0.93,
    "probabilities": {"glioma": 0.93, "meningioma": 0.05, "notumor": 0.01, "pituitary": 0.01},
    "uncertainty": 0.21,
    "in_scope": True,
    "scope_ratio": 0.42,
    "untrained": False,
    "models": ["brain_mri@2025.06.1"],
    "device": "cuda:0",
    "timings": {"queue_wait_ms": 12.0, "load_ms": 0.4, "decode_ms": 9.1, "forward_ms": 21.7, "save_ms": 3.2},
    "error": "",
    "created_at": "2025-06-02T09:00:00Z",
    "expires_at": "2025-06-02T10:00:00Z",
    "status_url": "https://oncoportal.example/api/v1/score/5b0f6c9e-2a4d-4f0e-9d53-2f1c7a8e9b10/",
    "image_url": "https://oncoportal.example/api/v1/score/5b0f6c9e-2a4d-4f0e-9d53-2f1c7a8e9b10/image.png",
    "overlay_url": "https://oncoportal.example/api/v1/score/5b0f6c9e-2a4d-4f0e-9d53-2f1c7a8e9b10/overlay.png",
}
QUEUED_EXAMPLE = {
    **DONE_EXAMPLE,
    "status": "queued",
    "label": "",
    "confidence": None,
    "probabilities": {},
    "in_scope": None,
    "scope_ratio": None,
    "uncertainty": None,
    "device": "",
    "timings": {},
    "overlay_url": None,
}


class ScoreView(APIView):
    parser_classes = [MultiPartParser]
    scopes = {"post": Scope.UPLOAD}
    # A try-out stores an image and runs the model, as an upload does (issue 24).
    permissions = {"post": "cases.upload_study"}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # The size first, from Content-Length, before anything reads the body (the session
        # authentication's CSRF check does), as the upload page does.
        upload_guard(request._request, refuse=_refuse, messages=MESSAGES, csrf=False, parse=False)
        super().initial(request, *args, **kwargs)

    @extend_schema(
        operation_id="score_create",
        summary="Score one image with the task's active model",
        description="A quick look, not a case: the image is de-identified and checked as an upload is, "
        "scored by the task's active model (or ensemble), and kept with its result for "
        f"{settings.TRYOUT_TTL_SECONDS // 60} minutes at most (ONCOPORTAL_TRYOUT_TTL), for the sending "
        "account alone. The call waits up to `wait` seconds: 200 with the result when it finished (done "
        "or failed), else 202 with the result so far and `status_url` (also in Location) to poll. "
        "400 for an unknown task, a task without an active model, or a file that is not one image; 413 "
        "over the upload limit (decided before the body is read); 415 unless multipart/form-data.",
        request={"multipart/form-data": ScoreSerializer},
        responses={
            200: ScoreResultSerializer,
            202: ScoreResultSerializer,
            **errors(400, 403, 413, 415),
        },
        examples=[
            example("Done within the wait", DONE_EXAMPLE),
            example("Still queued", QUEUED_EXAMPLE, status=202),
        ],
        tags=TAGS,
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        params = ScoreSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        if len(request.FILES.getlist("file")) > 1:
            raise ValidationError(
                {"file": ["A try-out takes one image; send studies to POST /api/v1/studies/."]}
            )
        created = tryout_start(
            user=request.user,
            task=params.validated_data["task"],
            upload=params.validated_data["file"],
            audit=api_audit(request),
        )
        _wait_until_finished(created.pk, params.validated_data["wait"])
        item = _own(request, created.pk)
        body = score_body(request, item)
        if item.is_finished:
            return Response(body)
        return Response(body, status=202, headers={"Location": body["status_url"]})


class ScoreDetailView(APIView):
    scopes = {"get": Scope.READ, "delete": Scope.UPLOAD}

    @extend_schema(
        operation_id="score_retrieve",
        parameters=[TRYOUT_ID],
        summary="A try-out's state and result (poll it until done or failed)",
        description="Only the account that sent the image sees it; anyone else, and everyone once it "
        "expired or was deleted, gets 404.",
        responses={200: ScoreResultSerializer, **errors(403, 404)},
        examples=[example("Done", DONE_EXAMPLE)],
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, pk: UUID) -> Response:
        response = Response(score_body(request, _own(request, pk)))
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        operation_id="score_destroy",
        parameters=[TRYOUT_ID],
        summary="Delete a try-out and its files now",
        description="Otherwise it goes when it expires. Audited as tryout.deleted with source api.",
        responses={204: None, **errors(403, 404)},
        tags=TAGS,
    )
    def delete(self, request: AuthenticatedRequest, pk: UUID) -> Response:
        tryout_discard(tryout=_own(request, pk), user=request.user, audit=api_audit(request))
        return Response(status=204)


class _ScoreFileView(APIView):
    scopes = {"get": Scope.READ}
    content_negotiation_class = FirstRenderer  # errors stay JSON whatever Accept says
    kind = ""

    def get(self, request: AuthenticatedRequest, pk: UUID) -> FileResponse:
        # The overlay is drawn from the stored map on first request, then cached.
        return stored_png(tryout_png_name(_own(request, pk), self.kind), missing=NO_FILE)


class ScoreImageView(_ScoreFileView):
    kind = "image"

    @extend_schema(
        operation_id="score_image",
        parameters=[TRYOUT_ID],
        summary="The frame the model saw, as an 8-bit PNG",
        responses={(200, "image/png"): OpenApiTypes.BINARY, **errors(403, 404)},
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, pk: UUID) -> FileResponse:
        return super().get(request, pk)


class ScoreOverlayView(_ScoreFileView):
    kind = "overlay"

    @extend_schema(
        operation_id="score_overlay",
        parameters=[TRYOUT_ID],
        summary="The saliency overlay (where the model looked), as a PNG",
        description="404 until the try-out is done, and for a failed one.",
        responses={(200, "image/png"): OpenApiTypes.BINARY, **errors(403, 404)},
        tags=TAGS,
    )
    def get(self, request: AuthenticatedRequest, pk: UUID) -> FileResponse:
        return super().get(request, pk)
