"""The Curator page's Analytics tab: AI against the final label, reader agreement, agreement over time, turnaround."""

from __future__ import annotations

import csv

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cases.views.access import AuthenticatedHttpRequest, ui_view
from curation.selectors import can_curate
from lifecycle.analytics_report import STAGES, analytics_charts, analytics_csv_rows, analytics_report
from lifecycle.forms_analytics import AnalyticsFilterForm
from lifecycle.selectors_analytics import Outcome

CURATOR_ONLY = "Analytics are for Curators (the curate_dataset permission)."
OUTCOME_NAMES = {
    Outcome.MATRIX: "Compared (in the matrix)",
    Outcome.NON_DIAGNOSTIC: "Final label non-diagnostic",
    Outcome.OUT_OF_SCOPE: "AI result out of scope (no class)",
    Outcome.NO_AI: "No AI result shown",
}


def _form(request: AuthenticatedHttpRequest) -> AnalyticsFilterForm:
    if not can_curate(request.user):
        raise PermissionDenied(CURATOR_ONLY)
    return AnalyticsFilterForm(request.GET, user=request.user)


@require_GET
@ui_view
def analytics(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The figures for one task, model version and date range; 400 with the reason for filters that do not hold."""
    form = _form(request)
    context: dict[str, object] = {"curation_tab": "analytics", "form": form, "stages": STAGES}
    if not form.is_valid():
        return render(request, "lifecycle/analytics.html", context, status=400)
    report = analytics_report(user=request.user, filters=form.filters())
    context.update(
        report=report,
        charts=analytics_charts(report),
        outcomes=[(key, OUTCOME_NAMES[key], n) for key, n in report.outcomes.items()],
        per_class=[(report.name(c.name), c) for c in report.confusion.per_class],
        matrix=[
            (report.name(name), list(zip(row, shares, strict=True)), sum(row))
            for name, row, shares in zip(
                report.confusion.classes, report.confusion.matrix, report.confusion.row_shares(), strict=True
            )
        ],
        turnaround_overall=[(STAGES[s], report.turnaround_overall[s]) for s in STAGES],
        csv_query=request.GET.urlencode(),
    )
    return render(request, "lifecycle/analytics.html", context)


@require_GET
@ui_view
def analytics_csv(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The same figures as a CSV file (section, key, subkey, n, value)."""
    form = _form(request)
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        return HttpResponse(f"Filters not understood: {errors}\n", status=400, content_type="text/plain")
    filters = form.filters()
    report = analytics_report(user=request.user, filters=filters)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"analytics-{filters.task}-{filters.date_from}-{filters.date_to}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    csv.writer(response).writerows(analytics_csv_rows(report))
    return response
