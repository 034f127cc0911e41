"""The Curator page's Drift tab: each task's recent cases against its model's validation images."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from cases.views.access import AuthenticatedHttpRequest, ui_view, web_audit
from inference.models import ModelVersion
from lifecycle.selectors_drift import drift_overview, drift_status, weekly_psi
from lifecycle.services.drift import drift_reference_request
from oncocore.drift import Thresholds
from oncocore.drift.plots import distributions_svg, weekly_psi_svg
from oncoportal.exceptions import DomainError

View = TypeVar("View", bound=Callable[..., HttpResponseBase])
PERMISSION = "curation.curate_dataset"


def curator_view(view: View) -> View:
    """A signed-in UI user with the curate_dataset permission; 403 for anyone else."""

    @ui_view
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied("Drift watch is for Curators (the curate_dataset permission).")
        return view(request, *args, **kwargs)

    return cast(View, wrapped)


@require_GET
@curator_view
def drift(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Per task: status, the distributions against the reference, and PSI per week."""
    overview = drift_overview()
    drift_status(overview=overview)  # the banner says what this page says
    thresholds = Thresholds()
    tasks = [
        {
            "drift": d,
            "distributions_svg": distributions_svg(d.report.measures) if d.report is not None else "",
            "weekly_svg": (
                weekly_psi_svg([w.week for w in d.weeks], weekly_psi(d), thresholds)
                if d.report is not None
                else ""
            ),
        }
        for d in overview
    ]
    context = {
        "curation_tab": "drift",
        "tasks": tasks,
        "thresholds": thresholds,
        "weeks": settings.DRIFT_WEEKS,
    }
    return render(request, "lifecycle/drift.html", context)


@require_POST
@curator_view
def drift_reference_build(request: AuthenticatedHttpRequest, version_id: int) -> HttpResponse:
    """Queue a (re)build of the version's reference on the inference worker."""
    version = get_object_or_404(ModelVersion, pk=version_id)
    try:
        drift_reference_request(version=version, audit=web_audit(request))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Reference of {version} queued: the inference worker scores its validation images."
        )
    return redirect("lifecycle:drift")
