"""Uploading studies and reading back what became of each file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from cases.forms import UploadForm
from cases.models import IntakeBatch, User
from cases.permissions import can_upload
from cases.selectors import case_list_for_user, intake_batch_for_user
from cases.services.intake import intake_sources
from cases.task_registry import task_label
from cases.views.access import AuthenticatedHttpRequest, ui_view, wants_json, web_audit
from cases.views.upload_report import report_case_ids, summarise_report
from oncoportal.http import UploadMessages, upload_guard

NO_UPLOAD_MESSAGE = "Your role cannot upload studies. Radiologists and Curators can."
UPLOAD_MESSAGES = UploadMessages(
    too_large=(
        "This upload is {size}, over the {limit} limit for one upload. "
        "Nothing was stored. Upload the files in smaller groups."
    ),
    too_many_files=(
        "Too many files in one upload (the limit is {max_files}). "
        "Nothing was stored. Zip the folder, or upload it in parts."
    ),
)


def _upload_page(
    request: AuthenticatedHttpRequest, form: UploadForm, *, status: int = 200, error: str = ""
) -> HttpResponse:
    return render(
        request,
        "cases/upload.html",
        {
            "form": form,
            "error": error,
            "max_request_bytes": settings.INTAKE_MAX_REQUEST_BYTES,
            "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
        },
        status=status,
    )


def _upload_error(
    request: AuthenticatedHttpRequest, *, status: int, message: str, form: UploadForm | None = None
) -> HttpResponse:
    """The same failure as JSON for the upload script, or as the form page with a message."""
    if wants_json(request):
        payload: dict[str, Any] = {"error": message}
        if form is not None and form.errors:
            payload["errors"] = {
                name: [e["message"] for e in errs] for name, errs in form.errors.get_json_data().items()
            }
        return JsonResponse(payload, status=status)
    return _upload_page(request, form or UploadForm(user=request.user), status=status, error=message)


@csrf_exempt  # upload_guard checks CSRF: checking it reads the body, and the size check must come first.
@require_http_methods(["GET", "POST"])
@ui_view
def upload(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: the upload form. POST: ingest the files, then redirect (or JSON {result_url}) to the result page.

    Responses: 403 without upload permission or a CSRF token; 413 when
    Content-Length is over INTAKE_MAX_REQUEST_BYTES (decided before the body is
    read); 400 for no files, an unknown task, a missing site or too many files.
    """
    if not can_upload(request.user):
        raise PermissionDenied(NO_UPLOAD_MESSAGE)
    if request.method == "GET":
        return _upload_page(request, UploadForm(user=request.user))
    refused = upload_guard(
        request,
        messages=UPLOAD_MESSAGES,
        refuse=lambda status, message: _upload_error(request, status=status, message=message),
    )
    if refused is not None:
        return refused
    return _upload_post(request)


def _upload_post(request: AuthenticatedHttpRequest) -> HttpResponse:
    user: User = request.user
    form = UploadForm(request.POST, request.FILES, user=user)
    if not form.is_valid():
        reasons = "; ".join(str(error) for errors in form.errors.values() for error in errors)
        return _upload_error(request, status=400, message=f"Nothing was uploaded: {reasons}", form=form)
    labelled = form.labelled_uploads()
    report = intake_sources(
        uploads=_read_each(labelled),
        site=form.target_site(),
        user=user,
        source=IntakeBatch.Source.WEB,
        task=form.cleaned_data["task"],
        patient_ref=form.cleaned_data["patient_ref"],
        audit=web_audit(request),
    )
    result_url = reverse("cases:upload_result", kwargs={"batch_id": report.batch_id})
    if wants_json(request):
        return JsonResponse(
            {
                "result_url": result_url,
                "batch_id": report.batch_id,
                "accepted": len(report.accepted),
                "duplicates": len(report.duplicates),
                "rejected": len(report.rejected),
            }
        )
    return redirect(result_url)


def _read_each(labelled: list[tuple[str, UploadedFile]]) -> Iterator[tuple[str, bytes]]:
    # One file in memory at a time: intake consumes the uploads lazily.
    for label, upload_file in labelled:
        upload_file.seek(0)
        yield label, upload_file.read()


@require_GET
@ui_view
def upload_result(request: AuthenticatedHttpRequest, batch_id: UUID) -> HttpResponse:
    """What happened to each file of one upload; 404 unless the user made it (Curators see all)."""
    user: User = request.user
    try:
        batch = intake_batch_for_user(user=user, batch_id=str(batch_id))
    except IntakeBatch.DoesNotExist:
        raise Http404("No such upload.") from None
    report = batch.report or {}
    visible = case_list_for_user(user=user).filter(pk__in=report_case_ids(report))
    summary = summarise_report(report, {case.pk: case for case in visible})
    requested = batch.requested_task
    return render(
        request,
        "cases/upload_result.html",
        {
            "batch": batch,
            "summary": summary,
            "requested_task": task_label(requested),
        },
    )
