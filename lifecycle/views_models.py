"""The Curator page's Models tab: champion and candidates per task, promote through the gate, roll back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from cases.views.access import AuthenticatedHttpRequest, permission_view, web_audit
from inference.models import ModelVersion
from inference.selectors import active_ensemble
from lifecycle.models import ModelChange
from lifecycle.selectors_evaluations import evaluation_latest_done
from lifecycle.selectors_promotion import champion_members, gate_for, models_overview
from lifecycle.services.promotion import model_promote, model_rollback, model_rollback_to
from oncoportal.exceptions import DomainError

CURATE = "curation.curate_dataset"
PROMOTE = "lifecycle.promote_model"
REASON_MAX = 2000
lifecycle_view = permission_view(
    CURATE,
    "Models are for Curators (the curate_dataset permission).",
    write_permission=PROMOTE,
    write_message="Promoting and rolling back need the promote_model permission.",
)


def _reason(request: HttpRequest) -> str:
    return request.POST.get("reason", "").strip()[:REASON_MAX]


@require_GET
@lifecycle_view
def models(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Per task: the champion, the candidates with their gate verdict, earlier versions, the changes."""
    context = {
        "curation_tab": "models",
        "tasks": models_overview(),
        "can_promote": request.user.has_perm(PROMOTE),
    }
    return render(request, "lifecycle/models.html", context)


@require_http_methods(["GET", "POST"])
@lifecycle_view
def promote(request: AuthenticatedHttpRequest, version_id: int) -> HttpResponse:
    """GET: the gate's checks against the current champion. POST (with a reason): promote."""
    candidate = get_object_or_404(ModelVersion, pk=version_id)
    error = ""
    if request.method == "POST":
        try:
            change = model_promote(candidate=candidate, audit=web_audit(request), reason=_reason(request))
        except DomainError as exc:
            error = exc.message
        else:
            messages.success(request, f"{candidate.label} is now the champion of {candidate.task}.")
            return redirect(f"{_models_url()}#change-{change.pk}")
    champion = active_ensemble(task=candidate.task)
    evaluation = evaluation_latest_done(
        candidate=candidate, champion_members=champion_members(task=candidate.task)
    )
    context = {
        "curation_tab": "models",
        "candidate": candidate,
        "champion": champion,
        "evaluation": evaluation,
        "stale": None if evaluation else evaluation_latest_done(candidate=candidate),
        "verdict": gate_for(evaluation=evaluation) if evaluation else None,
        "error": error,
        "reason": _reason(request),
        "can_promote": request.user.has_perm(PROMOTE),
    }
    return render(request, "lifecycle/promote.html", context, status=409 if error else 200)


@require_http_methods(["GET", "POST"])
@lifecycle_view
def rollback(request: AuthenticatedHttpRequest, change_id: int) -> HttpResponse:
    """GET: confirm restoring the ensemble before a change. POST: do it."""
    change = get_object_or_404(ModelChange.objects.select_related("version"), pk=change_id)
    return _rollback_page(
        request,
        target=change.before,
        task=change.task,
        title=f"Roll back change {change.pk}",
        change=change,
        act=lambda: model_rollback(change=change, audit=web_audit(request), reason=_reason(request)),
    )


@require_http_methods(["GET", "POST"])
@lifecycle_view
def rollback_version(request: AuthenticatedHttpRequest, version_id: int) -> HttpResponse:
    """GET: confirm making an earlier champion the only active version again. POST: do it."""
    version = get_object_or_404(ModelVersion, pk=version_id)
    return _rollback_page(
        request,
        target=[{"version_id": version.pk, "version": str(version), "weight": 1.0}],
        task=version.task,
        title=f"Roll back to {version.label}",
        change=None,
        act=lambda: model_rollback_to(version=version, audit=web_audit(request), reason=_reason(request)),
    )


def _models_url() -> str:
    return reverse("lifecycle:models")


def _rollback_page(
    request: AuthenticatedHttpRequest,
    *,
    target: list[dict[str, Any]],
    task: str,
    title: str,
    change: ModelChange | None,
    act: Callable[[], ModelChange],
) -> HttpResponse:
    error = ""
    if request.method == "POST":
        try:
            done = act()
        except DomainError as exc:
            error = exc.message
        else:
            messages.success(request, f"Rolled back: {done.version.label} leads {task} again.")
            return redirect(f"{_models_url()}#change-{done.pk}")
    context = {
        "curation_tab": "models",
        "title": title,
        "task": task,
        "change": change,
        "target": target,
        "current": champion_members(task=task),
        "error": error,
        "reason": _reason(request),
        "can_promote": request.user.has_perm(PROMOTE),
    }
    return render(request, "lifecycle/rollback.html", context, status=409 if error else 200)
