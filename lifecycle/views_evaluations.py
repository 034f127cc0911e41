"""The Curator page's evaluations: the list and start form, one comparison side by side, its status as JSON."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from cases.views.access import AuthenticatedHttpRequest, permission_view, web_audit
from cases.views.start_form import list_with_start_form, status_json
from lifecycle.forms_evaluations import EvaluationStartForm
from lifecycle.models import Evaluation
from lifecycle.selectors_evaluations import evaluation_figures, evaluation_list, evaluation_progress
from lifecycle.services.evaluations import evaluation_request
from oncocore.evaluation.compare import ALPHA, comparison_rows, paired_verdict

PERMISSION = "curation.curate_dataset"
curator_view = permission_view(
    PERMISSION, "Model evaluations are for Curators (the curate_dataset permission)."
)
LIST_LIMIT = 100


@require_http_methods(["GET", "POST"])
@curator_view
def evaluations(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The evaluations, newest first, and the form that starts one (POST)."""

    def start(data: dict[str, Any]) -> Evaluation:
        return evaluation_request(
            candidate=data["candidate"],
            snapshot=data["snapshot"],
            split=data["split"],
            audit=web_audit(request),
        )

    return list_with_start_form(
        request,
        form=EvaluationStartForm(request.POST or None),
        start=start,
        started=lambda e: (f"Evaluation {e.pk} queued.", redirect("lifecycle:evaluation", pk=e.pk)),
        template="lifecycle/evaluations.html",
        context={"curation_tab": "models", "evaluations": evaluation_list()[:LIST_LIMIT]},
    )


@require_GET
@curator_view
def evaluation_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One evaluation: the two models side by side when done; the page polls evaluation_status until then."""
    evaluation = get_object_or_404(evaluation_list(), pk=pk)
    results = evaluation.results
    context = {
        "curation_tab": "models",
        "evaluation": evaluation,
        "progress": evaluation_progress(evaluation),
        "results": results,
        "rows": comparison_rows(results) if results.get("sides") else [],
        "verdict": paired_verdict(results.get("paired")) if results.get("sides") else "",
        "significant": bool(results.get("paired")) and results["paired"]["p_value"] < ALPHA,
        "alpha": ALPHA,
        "figures": evaluation_figures(evaluation),
        "champion_members": evaluation.champion_members,
    }
    return render(request, "lifecycle/evaluation_detail.html", context)


@require_GET
@curator_view
def evaluation_status(request: AuthenticatedHttpRequest, pk: int) -> JsonResponse:
    """The evaluation's state as JSON, for polling."""
    return status_json(evaluation_progress(get_object_or_404(evaluation_list(), pk=pk)))
