"""The Curator page's labelled images: filter, count, look, include or exclude (Curators only)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from cases.models import AuditSource
from cases.services.audit import AuditContext
from cases.task_registry import task_label
from cases.views.access import AuthenticatedHttpRequest, ui_view
from curation.forms_images import ExampleBulkForm, ExampleFilterForm
from curation.models import Provenance
from curation.selectors import can_curate, example_counts, example_list_for_user
from curation.services.examples import examples_set_included

PAGE_SIZE = 60
CURATOR_ONLY = "Only Curators curate the labelled images."


@require_http_methods(["GET", "POST"])
@ui_view
def images(request: AuthenticatedHttpRequest) -> HttpResponse:
    """GET: the filtered, counted, paginated labelled images. POST: include/exclude the ticked ones, back to the same filters."""
    if not can_curate(request.user):
        raise PermissionDenied(CURATOR_ONLY)
    bulk = ExampleBulkForm(request.POST) if request.method == "POST" else None
    if bulk is not None:
        bulk.fields["examples"].queryset = example_list_for_user(user=request.user)  # type: ignore[attr-defined]
        if bulk.is_valid():
            included = bulk.cleaned_data["action"] == "include"
            changed = examples_set_included(
                examples=bulk.cleaned_data["examples"],
                included=included,
                reason=bulk.cleaned_data["reason"],
                audit=AuditContext.from_request(request, source=AuditSource.WEB),
            )
            verb = "included" if included else "excluded"
            messages.success(request, f"{len(changed)} image{'s' if len(changed) != 1 else ''} {verb}.")
            query = request.GET.urlencode()
            return HttpResponseRedirect(reverse("curation:images") + (f"?{query}" if query else ""))
    filter_form = ExampleFilterForm(request.GET or None)
    filters = filter_form.filters()
    examples = example_list_for_user(user=request.user, filters=filters)
    page = Paginator(examples, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = example_counts(examples=examples)
    for example in page.object_list:
        example.task_name = task_label(example.task)
    names = dict(Provenance.choices)
    return render(
        request,
        "curation/images.html",
        {
            "curation_tab": "images",
            "filter_form": filter_form,
            "is_filtered": filters.active,
            "counts": counts,
            "task": filters.task,  # per-label counts name their classes by this task's readable names
            "provenance_counts": [(p, names.get(p, p), n) for p, n in counts["by_provenance"].items()],
            "page": page,
            "bulk": bulk,
            "checked": {str(pk) for pk in request.POST.getlist("examples")},
            "reason": request.POST.get("reason", ""),
        },
        status=400 if bulk is not None else 200,
    )
