"""Prediction files and the retry action, behind the same access rules as cases; the try-out page."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases.models import User
from cases.permissions import can_upload
from cases.selectors import case_list_for_user
from cases.task_registry import task_label
from cases.views.access import AuthenticatedHttpRequest, ui_view, wants_json, web_audit
from cases.views.images import stored_png
from cases.views.start_form import status_json
from inference.models import Prediction, TryOut
from inference.scoring import prediction_file_name, tryout_png_name
from inference.selectors import prediction_for_user
from inference.services import case_retry
from inference.tryout.forms import SaveAsCaseForm, TryOutForm
from inference.tryout.selectors import (
    tryout_for_user,
    tryout_list_for_user,
    tryout_overlay_ready,
    tryout_result,
    tryout_task_choices,
)
from inference.tryout.services import NO_UPLOAD_MESSAGE, tryout_discard, tryout_save_as_case, tryout_start
from oncoportal.exceptions import DomainError
from oncoportal.http import UploadMessages, upload_guard

TRYOUT_MESSAGES = UploadMessages(too_large="This file is {size}, over the {limit} limit. Nothing was stored.")


@require_GET
@ui_view
def prediction_file(request: AuthenticatedHttpRequest, pk: str, kind: str) -> FileResponse:
    """The saliency overlay ('overlay') or full-resolution 16-bit Grad-CAM map ('saliency') of a visible prediction."""
    try:
        prediction = prediction_for_user(user=request.user, prediction_id=int(pk))
    except Prediction.DoesNotExist:
        raise Http404("no such prediction") from None
    missing = "This prediction has no saliency map (or it is gone)."
    # The map is stored at the model's own resolution; the full-resolution map
    # and the overlay are rendered on first request and cached in storage.
    try:
        name = prediction_file_name(prediction, kind)
    except (FileNotFoundError, ValueError):
        raise Http404(missing) from None
    return stored_png(name, missing=missing)


@require_POST
@ui_view
def case_retry_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Re-queue a failed case (needs change_case)."""
    case = get_object_or_404(case_list_for_user(user=request.user), pk=pk)
    if not request.user.has_perm("cases.change_case"):
        raise PermissionDenied("Your role cannot retry cases.")
    try:
        case_retry(case=case, user=request.user, audit=web_audit(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The case is queued again.")
    return redirect("cases:case_detail", pk=case.pk)


# --- Try-out: one image through a model, nothing kept unless saved as a case ----------
def _tryout_page(
    request: AuthenticatedHttpRequest, form: TryOutForm | None = None, *, status: int = 200, error: str = ""
) -> HttpResponse:
    if error and wants_json(request):
        return JsonResponse({"error": error}, status=status)
    tasks = tryout_task_choices()
    return render(
        request,
        "inference/tryout.html",
        {
            "form": form or TryOutForm(tasks=tasks),
            "has_tasks": bool(tasks),
            "error": error,
            "recent": tryout_list_for_user(user=request.user)[:10],
            "ttl_minutes": settings.TRYOUT_TTL_SECONDS // 60,
            "max_bytes": settings.INTAKE_MAX_REQUEST_BYTES,
        },
        status=status,
    )


@csrf_exempt  # upload_guard checks CSRF: checking it reads the body, and the size check comes first.
@require_http_methods(["GET", "POST"])
@ui_view
def tryout(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: the try-out form. POST: store and queue one image, then redirect (JSON: 201 {url}) to its page.

    Responses: 413 over INTAKE_MAX_REQUEST_BYTES (decided before the body is
    read); 400 with the reason for a bad form, an unknown task, a task without
    an active model, or a file the intake refuses. Nothing is stored on a 4xx.
    """
    if not can_upload(request.user):
        # A try-out stores an image and runs the model, as an upload does.
        raise PermissionDenied("Trying out a model needs upload permission (a Radiologist or Curator role).")
    if request.method == "GET":
        return _tryout_page(request)
    refused = upload_guard(
        request,
        messages=TRYOUT_MESSAGES,
        refuse=lambda status, message: _tryout_page(request, status=status, error=message),
    )
    if refused is not None:
        return refused
    return _tryout_post(request)


def _tryout_post(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TryOutForm(request.POST, request.FILES, tasks=tryout_task_choices())
    if not form.is_valid():
        reasons = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return _tryout_page(request, form, status=400, error=f"Nothing was stored: {reasons}")
    user: User = request.user
    try:
        created = tryout_start(
            user=user,
            task=form.cleaned_data["task"],
            upload=form.cleaned_data["file"],
            audit=web_audit(request),
        )
    except DomainError as exc:
        return _tryout_page(request, form, status=exc.status_code, error=f"Nothing was stored: {exc.message}")
    url = reverse("inference:tryout_detail", args=[created.pk])
    if wants_json(request):
        return JsonResponse(
            {
                "id": str(created.pk),
                "url": url,
                "status_url": reverse("inference:tryout_status", args=[created.pk]),
            },
            status=201,
        )
    return redirect(url)


def _own_tryout(request: AuthenticatedHttpRequest, pk: UUID) -> TryOut:
    try:
        return tryout_for_user(user=request.user, tryout_id=pk)
    except TryOut.DoesNotExist:
        raise Http404("No such try-out: it was discarded, saved as a case, or has expired.") from None


def _tryout_result_page(
    request: AuthenticatedHttpRequest,
    item: TryOut,
    *,
    form: SaveAsCaseForm | None = None,
    status: int = 200,
    error: str = "",
) -> HttpResponse:
    user: User = request.user
    return render(
        request,
        "inference/tryout_result.html",
        {
            "tryout": item,
            "task_label": task_label(item.task),
            "result": tryout_payload(item),
            "can_save": can_upload(user),
            "save_form": form or SaveAsCaseForm(user=user),
            "error": error,
        },
        status=status,
    )


@require_GET
@ui_view
def tryout_detail(request: AuthenticatedHttpRequest, pk: UUID) -> HttpResponse:
    """The try-out's page; its script polls tryout_status until the result is in. Owner only (404)."""
    return _tryout_result_page(request, _own_tryout(request, pk))


def tryout_payload(item: TryOut) -> dict[str, Any]:
    """What the page's script needs to show a try-out (also rendered server-side)."""
    return {
        **tryout_result(item),
        "status_display": item.get_status_display(),
        "finished": item.is_finished,
        "created_at": item.created_at.isoformat(),
        "expires_at": item.expires_at.isoformat(),
        "image_url": reverse("inference:tryout_image", args=[item.pk]),
        "overlay_url": reverse("inference:tryout_overlay", args=[item.pk])
        if tryout_overlay_ready(item)
        else None,
    }


@require_GET
@ui_view
def tryout_status(request: AuthenticatedHttpRequest, pk: UUID) -> JsonResponse:
    """The try-out's state and result as JSON, for polling. Owner only (404)."""
    return status_json(tryout_payload(_own_tryout(request, pk)))


@require_GET
@ui_view
def tryout_file(request: AuthenticatedHttpRequest, pk: UUID, kind: str) -> FileResponse:
    """The input as shown ('image': 8-bit PNG of the frame the model saw) or the saliency overlay. Owner only."""
    # The overlay is drawn from the stored map on first request, then cached.
    name = tryout_png_name(_own_tryout(request, pk), kind)
    return stored_png(name, missing="This try-out has no such file (yet, or any more).")


@require_POST
@ui_view
def tryout_save(request: AuthenticatedHttpRequest, pk: UUID) -> HttpResponse:
    """Ingest the try-out as a new case (needs upload permission) and open the case; the try-out goes."""
    user: User = request.user
    item = _own_tryout(request, pk)
    if not can_upload(user):
        raise PermissionDenied(NO_UPLOAD_MESSAGE)
    form = SaveAsCaseForm(request.POST, user=user)
    if not form.is_valid():
        reasons = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        return _tryout_result_page(request, item, form=form, status=400, error=f"Not saved: {reasons}")
    try:
        case_id = tryout_save_as_case(
            tryout=item, user=user, site=form.chosen_site(), audit=web_audit(request)
        )
    except DomainError as exc:
        return _tryout_result_page(request, item, form=form, status=exc.status_code, error=exc.message)
    messages.success(
        request, f"Saved as case {case_id}; the try-out was deleted. The case is queued for the model."
    )
    return redirect("cases:case_detail", pk=case_id)


@require_POST
@ui_view
def tryout_discard_view(request: AuthenticatedHttpRequest, pk: UUID) -> HttpResponse:
    """Delete the try-out and its files now."""
    tryout_discard(tryout=_own_tryout(request, pk), user=request.user, audit=web_audit(request))
    messages.success(request, "Try-out discarded. Nothing was kept.")
    return redirect("inference:tryout")
