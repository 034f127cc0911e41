"""The Curator page's Training jobs tab: the list and start form, a job's live progress, Cancel."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases.views.access import AuthenticatedHttpRequest, permission_view, web_audit
from cases.views.start_form import list_with_start_form, status_json
from oncoportal.exceptions import DomainError
from retraining.forms import JobStartForm
from retraining.models import TrainingJob
from retraining.selectors import job_list, job_progress
from retraining.services.jobs import job_cancel, job_start

PERMISSION = "curation.curate_dataset"
curator_view = permission_view(PERMISSION, "Training jobs are for Curators (the curate_dataset permission).")
LIST_LIMIT = 100


@require_http_methods(["GET", "POST"])
@curator_view
def jobs(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The jobs, newest first, and the form that starts one (POST)."""

    def start(data: dict[str, Any]) -> TrainingJob:
        return job_start(
            snapshot=data["snapshot"],
            mode=data["mode"],
            recipe=data["recipe"],
            base_version=data["base_version"],
            audit=web_audit(request),
        )

    return list_with_start_form(
        request,
        form=JobStartForm(request.POST or None),
        start=start,
        started=lambda job: (
            f"Training job {job.pk} queued on the training queue.",
            redirect("retraining:job", pk=job.pk),
        ),
        template="retraining/jobs.html",
        context={"curation_tab": "jobs", "jobs": job_list()[:LIST_LIMIT]},
    )


@require_GET
@curator_view
def job_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One job: live progress (the page polls job_status), the curve, Cancel, the candidate when done."""
    job = get_object_or_404(job_list(), pk=pk)
    context = {"curation_tab": "jobs", "job": job, "progress": job_progress(job)}
    return render(request, "retraining/job_detail.html", context)


@require_GET
@curator_view
def job_status(request: AuthenticatedHttpRequest, pk: int) -> JsonResponse:
    """The job's state and progress as JSON, for polling."""
    return status_json(job_progress(get_object_or_404(job_list(), pk=pk)))


@require_POST
@curator_view
def job_cancel_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(TrainingJob, pk=pk)
    try:
        job = job_cancel(job=job, audit=web_audit(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Training job {job.pk}: {job.get_status_display().lower()}.")
    return redirect("retraining:job", pk=pk)
