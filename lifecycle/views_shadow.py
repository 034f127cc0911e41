"""The Curator's shadow pages: the deployments with Start and Stop, and one deployment's comparison.

Pages need ``curation.curate_dataset``; starting and stopping change what the
platform runs, so they need ``lifecycle.promote_model`` too. Anyone else gets
the 403 page, readers included: shadow results are never shown to them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from cases.task_registry import task_get, task_label
from cases.views.access import AuthenticatedHttpRequest, permission_view, web_audit
from lifecycle.forms_shadow import ShadowStartForm
from lifecycle.models import ShadowDeployment
from lifecycle.selectors_shadow import ShadowComparison, shadow_comparison, shadow_list
from lifecycle.services.shadow import shadow_start, shadow_stop
from oncocore.champion_challenger import NO_CLASS
from oncocore.charts import confusion_svg
from oncoportal.exceptions import DomainError

PAGE_PERMISSION = "curation.curate_dataset"
ACTION_PERMISSION = "lifecycle.promote_model"
LIST_LIMIT = 100


shadow_page = permission_view(
    PAGE_PERMISSION, "Shadow runs are for Curators (the curate_dataset permission)."
)
shadow_action = permission_view(
    PAGE_PERMISSION,
    "Shadow runs are for Curators (the curate_dataset permission).",
    write_permission=ACTION_PERMISSION,
    write_message="Starting and stopping shadow runs needs the promote_model permission.",
)


def _list_page(
    request: AuthenticatedHttpRequest, form: ShadowStartForm, *, status: int = 200
) -> HttpResponse:
    deployments = list(shadow_list()[:LIST_LIMIT])
    tasks: dict[str, list[ShadowDeployment]] = {}
    for d in deployments:
        tasks.setdefault(d.task, []).append(d)
    context = {
        "curation_tab": "models",
        "tasks": [(task, task_label(task), rows) for task, rows in sorted(tasks.items())],
        "form": form,
        "can_act": request.user.has_perm(ACTION_PERMISSION),
    }
    return render(request, "lifecycle/shadows.html", context, status=status)


@require_GET
@shadow_page
def shadows(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The deployments per task, running first, and the start form."""
    return _list_page(request, ShadowStartForm())


@require_POST
@shadow_action
def shadow_start_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ShadowStartForm(request.POST)
    if form.is_valid():
        try:
            deployment = shadow_start(
                candidate=form.cleaned_data["candidate"],
                note=form.cleaned_data["note"],
                audit=web_audit(request),
            )
        except DomainError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request, f"{deployment.candidate.label} now runs in shadow on new {deployment.task} cases."
            )
            return redirect("lifecycle:shadow", pk=deployment.pk)
    return _list_page(request, form, status=400)


@require_POST
@shadow_action
def shadow_stop_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    deployment = shadow_stop(deployment=get_object_or_404(ShadowDeployment, pk=pk), audit=web_audit(request))
    messages.success(request, f"Shadow run of {deployment.candidate.label} stopped.")
    return redirect("lifecycle:shadow", pk=pk)


@require_GET
@shadow_page
def shadow_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One deployment: both models against the final labels, their matrices, agreement and McNemar."""
    deployment = get_object_or_404(shadow_list(), pk=pk)
    comparison = shadow_comparison(deployment=deployment)
    task = deployment.task
    context = {
        "curation_tab": "models",
        "deployment": deployment,
        "comparison": comparison,
        "rows": _class_rows(comparison),
        "charts": _charts(comparison),
        "discordant": [
            {**r, **{side: _shown(task, r[side]) for side in ("final", "champion", "candidate")}}
            for r in comparison.discordant
        ],
        "can_act": request.user.has_perm(ACTION_PERMISSION),
    }
    return render(request, "lifecycle/shadow_detail.html", context)


def class_label(task: str, name: str) -> str:
    """A class's readable name (an unknown one as it is)."""
    spec = task_get(task)
    return spec.class_label(name) if spec is not None else name


def _shown(task: str, label: str) -> str:
    return class_label(task, label) if label else NO_CLASS


def _class_rows(comparison: ShadowComparison) -> list[dict[str, Any]]:
    figures = comparison.figures
    if figures is None:
        return []
    task = comparison.deployment.task
    return [
        {
            "name": class_label(task, name),
            "support": figures["champion"]["per_class"][name]["support"],
            "champion": figures["champion"]["per_class"][name],
            "candidate": figures["candidate"]["per_class"][name],
        }
        for name in comparison.classes
    ]


def _charts(comparison: ShadowComparison) -> list[tuple[str, str]]:
    """(title, inline SVG) of the three confusion matrices; none before any image is compared."""
    figures = comparison.figures
    if figures is None:
        return []
    task = comparison.deployment.task

    def names(values: list[str]) -> list[str]:
        return [class_label(task, v) if v in comparison.classes else v for v in values]

    rows = names(comparison.classes)
    out: list[tuple[str, str]] = []
    for side, title in (("champion", "Champion vs final label"), ("candidate", "Candidate vs final label")):
        svg = confusion_svg(
            figures[side]["confusion_matrix"],
            rows,
            names(figures[side]["columns"]),
            title=title,
            column_axis=side,
        )
        out.append((title, mark_safe(svg)))  # matplotlib's own SVG; it escapes the class names
    agreement = figures["agreement"]
    labels = names(agreement["names"])
    svg = confusion_svg(
        agreement["confusion_matrix"],
        labels,
        labels,
        title="Champion vs candidate",
        row_axis="champion",
        column_axis="candidate",
    )
    out.append(("Champion vs candidate", mark_safe(svg)))
    return out
