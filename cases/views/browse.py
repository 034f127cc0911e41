"""The worklist page: every case the user may see, filtered and paginated."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cases.forms import WorklistFilterForm
from cases.selectors import worklist_for_user
from cases.views.access import ui_view

PAGE_SIZE = 50


@require_GET
@ui_view
def worklist(request: HttpRequest) -> HttpResponse:
    """Cases visible to the user, 50 per page, in a constant number of queries whatever the page size."""
    filter_form = WorklistFilterForm(request.GET)
    cases = worklist_for_user(user=request.user).filter(**filter_form.filters())  # type: ignore[arg-type]
    page = Paginator(cases, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "cases/worklist.html",
        {
            "page": page,
            "filter_form": filter_form,
            "is_filtered": bool(filter_form.filters()),
        },
    )
