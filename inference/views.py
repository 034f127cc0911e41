"""Prediction files and the retry action, behind the same access rules as cases."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from cases.selectors import case_list_for_user
from cases.views.access import ui_view
from inference.models import Prediction
from inference.selectors import prediction_for_user
from inference.services import case_retry
from oncoportal.exceptions import DomainError


@require_GET
@ui_view
def prediction_file(request: HttpRequest, pk: str, kind: str) -> HttpResponse:
    """The saliency overlay ('overlay') or raw 16-bit Grad-CAM map ('saliency') of a visible prediction."""
    try:
        prediction = prediction_for_user(user=request.user, prediction_id=int(pk))  # type: ignore[arg-type]
    except Prediction.DoesNotExist:
        raise Http404("no such prediction") from None
    field = {"overlay": prediction.saliency_overlay, "saliency": prediction.saliency_raw}[kind]
    if not field.name:
        raise Http404("this prediction has no saliency map")
    try:
        handle = default_storage.open(field.name, "rb")
    except FileNotFoundError:
        raise Http404("saliency file missing") from None
    response = FileResponse(handle, content_type="image/png")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@require_POST
@ui_view
def case_retry_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Re-queue a failed case (needs change_case)."""
    case = get_object_or_404(case_list_for_user(user=request.user), pk=pk)  # type: ignore[arg-type]
    if not request.user.has_perm("cases.change_case"):
        raise PermissionDenied("Your role cannot retry cases.")
    try:
        case_retry(case=case, user=request.user)  # type: ignore[arg-type]
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The case is queued again.")
    return redirect("cases:case_detail", pk=case.pk)
