"""Uploading studies and reading back what became of each file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from cases.forms import UploadForm
from cases.models import IntakeBatch, Task, User
from cases.permissions import can_upload
from cases.selectors import case_list_for_user, intake_batch_for_user
from cases.services.intake import intake_sources
from cases.views.access import ui_view, wants_json
from cases.views.upload_report import report_case_ids, summarise_report

NO_UPLOAD_MESSAGE = "Your role cannot upload studies. Radiologists and Curators can."


def _upload_page(
    request: HttpRequest, form: UploadForm, *, status: int = 200, error: str = ""
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
    request: HttpRequest, *, status: int, message: str, form: UploadForm | None = None
) -> HttpResponse:
    """The same failure as JSON for the upload script, or as the form page with a message."""
    if wants_json(request):
        payload: dict[str, Any] = {"error": message}
        if form is not None and form.errors:
            payload["errors"] = {
                name: [e["message"] for e in errs] for name, errs in form.errors.get_json_data().items()
            }
        return JsonResponse(payload, status=status)
    return _upload_page(request, form or UploadForm(user=request.user), status=status, error=message)  # type: ignore[arg-type]


def _content_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


@csrf_exempt  # CSRF is checked in _upload_post: checking it reads the body, and the size check must come first.
@require_http_methods(["GET", "POST"])
@ui_view
def upload(request: HttpRequest) -> HttpResponse:
    """GET: the upload form. POST: ingest the files, then redirect (or JSON {result_url}) to the result page.

    Responses: 403 without upload permission; 413 when Content-Length is over
    INTAKE_MAX_REQUEST_BYTES (decided before the body is read); 400 for no
    files, an unknown task, a missing site or too many files.
    """
    if not can_upload(request.user):  # type: ignore[arg-type]
        raise PermissionDenied(NO_UPLOAD_MESSAGE)
    if request.method == "GET":
        return _upload_page(request, UploadForm(user=request.user))  # type: ignore[arg-type]
    size, limit = _content_length(request), settings.INTAKE_MAX_REQUEST_BYTES
    if size > limit:
        return _upload_error(
            request,
            status=413,
            message=(
                f"This upload is {filesizeformat(size)}, over the {filesizeformat(limit)} limit for one upload. "
                "Nothing was stored. Upload the files in smaller groups."
            ),
        )
    try:
        # Parse now so Django's own limits come back as a clear message, not a bare 400.
        request.FILES  # noqa: B018
    except TooManyFilesSent:
        return _upload_error(
            request,
            status=400,
            message=(
                f"Too many files in one upload (the limit is {settings.DATA_UPLOAD_MAX_NUMBER_FILES}). "
                "Nothing was stored. Zip the folder, or upload it in parts."
            ),
        )
    except (TooManyFieldsSent, RequestDataTooBig, MultiPartParserError):
        return _upload_error(
            request, status=400, message="The form data was malformed or too large. Nothing was stored."
        )
    return _upload_post(request)


@csrf_protect
def _upload_post(request: HttpRequest) -> HttpResponse:
    user: User = request.user  # type: ignore[assignment]
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
        request=request,
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
def upload_result(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    """What happened to each file of one upload; 404 unless the user made it (Curators see all)."""
    user: User = request.user  # type: ignore[assignment]
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
            "requested_task": Task(requested).label if requested in Task.values else requested,
        },
    )
