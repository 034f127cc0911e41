"""The worklist page, its live-status feed, and the Curators' adjudication queue."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET

from cases.forms import WorklistFilterForm
from cases.models import Case, CaseStatus, User
from cases.selectors import (
    adjudication_queue_for_user,
    blind_reading_tasks,
    case_statuses_for_user,
    newest_case_id,
    worklist_for_user,
    worklist_rows,
)
from cases.task_registry import task_choices
from cases.templatetags.cases_tags import class_label
from cases.views.access import AuthenticatedHttpRequest, ui_view

PAGE_SIZE = 50
# A poll asks about one page of rows at most.
MAX_STATUS_IDS = 200
# Statuses the worker will change without anyone acting: the page keeps polling while one
# is shown. Not "received": intake queues a case at once when its task has a model, and
# one without (task unassigned) waits for a person, which polling would not see sooner.
IN_FLIGHT = [CaseStatus.QUEUED, CaseStatus.PREDICTING]
# New rows sent to an open worklist at one poll at most (the rest on the next).
MAX_NEW_ROWS = 20


def blind_marked(rows: list[Case], *, user: User) -> list[Case]:
    """Mark the rows whose AI result a blind first reading hides from this reader (``ai_hidden``)."""
    blind = blind_reading_tasks(user=user)
    for case in rows:
        case.ai_hidden = case.task in blind and case.status != CaseStatus.REVIEWED  # type: ignore[attr-defined]
    return rows


@require_GET
@ui_view
def worklist(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Cases visible to the user, 50 per page, in a constant number of queries whatever the page size."""
    filter_form = WorklistFilterForm(request.GET, user=request.user)
    conditions = filter_form.filters()
    cases = worklist_for_user(user=request.user, order=filter_form.ordering()).filter(conditions)
    page = Paginator(cases.values_list("pk", flat=True), PAGE_SIZE).get_page(request.GET.get("page"))
    # The page is cut from ids and then shows their rows (the stubs keep Page at its ids' type).
    page.object_list = blind_marked(  # type: ignore[assignment]
        worklist_rows(user=request.user, case_ids=list(page.object_list)), user=request.user
    )
    # The first page gains new cases while open: worklist.js asks for those after the newest.
    newest = newest_case_id(cases) if page.number == 1 else None
    return render(
        request,
        "cases/worklist.html",
        {
            "page": page,
            "filter_form": filter_form,
            "is_filtered": bool(conditions),
            "order": filter_form.ordering(),
            "in_flight": IN_FLIGHT,
            "task_needed_choices": task_choices(unassigned=False),  # rows that ask for a task
            "newest_id": newest or 0,
        },
    )


@require_GET
@ui_view
def worklist_new(request: AuthenticatedHttpRequest) -> JsonResponse:
    """``?after=<case id>&<the page's filters>`` → the rows of cases newer than that one that the
    open worklist's filters match, newest first and rendered as the page renders them (it polls this)."""
    try:
        after = int(request.GET.get("after", ""))
    except ValueError:
        return JsonResponse({"detail": "after must be a case number"}, status=400)
    filter_form = WorklistFilterForm(request.GET, user=request.user)
    cases = worklist_for_user(user=request.user).filter(filter_form.filters()).filter(pk__gt=after)
    ids = list(cases.order_by("-pk").values_list("pk", flat=True)[:MAX_NEW_ROWS])
    rows = blind_marked(worklist_rows(user=request.user, case_ids=ids), user=request.user)
    # A row that asks for a task comes back to the worklist once the task is set, not to this feed.
    row_context = {
        "in_flight": IN_FLIGHT,
        "task_needed_choices": task_choices(unassigned=False),
        "task_set_next": reverse("cases:worklist"),
    }
    return JsonResponse(
        {
            "newest": max(ids, default=after),
            "rows": [
                {
                    "id": case.pk,
                    "html": render_to_string(
                        "cases/_worklist_row.html", {"case": case, **row_context}, request=request
                    ),
                }
                for case in rows
            ],
        },
        headers={"Cache-Control": "no-store"},
    )


@require_GET
@ui_view
def case_statuses(request: AuthenticatedHttpRequest) -> JsonResponse:
    """``?ids=1,2,3`` → the status and AI summary of those cases the user may see (the worklist polls this)."""
    raw = [part for part in request.GET.get("ids", "").split(",") if part.strip()]
    if len(raw) > MAX_STATUS_IDS:
        return JsonResponse({"detail": f"ask for at most {MAX_STATUS_IDS} cases at once"}, status=400)
    try:
        ids = [int(part) for part in raw]
    except ValueError:
        return JsonResponse({"detail": "ids must be a comma-separated list of case numbers"}, status=400)
    rows = list(case_statuses_for_user(user=request.user, case_ids=ids))
    hidden = {case.pk for case in blind_marked(rows, user=request.user) if getattr(case, "ai_hidden", False)}
    return JsonResponse(
        {
            "cases": [
                {
                    "id": case.pk,
                    "status": case.status,
                    "status_label": case.get_status_display(),
                    "in_flight": case.status in IN_FLIGHT,
                    "ai_hidden": case.pk in hidden,
                    "ai_label": "" if case.pk in hidden else case.ai_label,
                    "ai_label_display": class_label(case.ai_label, case.task)
                    if case.ai_label and case.pk not in hidden
                    else "",
                    "ai_confidence": case.ai_confidence,
                    "ai_uncertainty": case.ai_uncertainty,
                    "ai_positive": case.ai_positive,
                    "ai_untrained": case.ai_untrained,
                    "ai_images": case.ai_images,
                    "ai_outside_scope": case.ai_outside_scope,
                    # The study result's key image, for the row's thumbnail; null before a result.
                    "key_image_thumbnail": reverse("cases:image_thumbnail", args=[case.ai_key_image_id])
                    if case.ai_key_image_id
                    else None,
                }
                for case in rows
            ]
        },
        headers={"Cache-Control": "no-store"},
    )


@require_GET
@ui_view
def adjudication_queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Cases whose two readers disagreed, for Curators to decide; 403 for other roles."""
    if not request.user.has_perm("cases.adjudicate_case"):
        raise PermissionDenied("Only Curators adjudicate disagreements between readers.")
    page = Paginator(adjudication_queue_for_user(user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for case in page.object_list:
        by_image: dict[int, list] = {}
        for review in case.reviews.all():
            if not review.awaits_reveal:  # a blind first reading is kept, not weighed
                by_image.setdefault(review.image_id, []).append(review)
        # Only the images the readers disagreed on.
        case.disputes = [reviews for reviews in by_image.values() if len({r.label for r in reviews}) > 1]
    return render(request, "cases/adjudication_queue.html", {"page": page})
