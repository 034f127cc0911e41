"""The case page and the small forms on it (task, priority)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from cases.forms import PriorityForm, TaskChangeForm
from cases.models import Case, CaseStatus, Image, User
from cases.models.case import TASK_CLASSES
from cases.selectors import case_list_for_user, case_series, next_case_for_review
from cases.services.audit import audit_record
from cases.services.case import case_change_task, case_set_priority
from cases.services.review import review_class_names
from cases.views.access import ui_view
from cases.views.review import opened_token
from oncoportal.exceptions import DomainError

# The happy path a case walks; FAILED can interrupt it at any step.
LIFECYCLE = [
    CaseStatus.RECEIVED,
    CaseStatus.QUEUED,
    CaseStatus.PREDICTING,
    CaseStatus.PREDICTED,
    CaseStatus.IN_REVIEW,
    CaseStatus.REVIEWED,
]
HEADER_VALUE_MAX_CHARS = 400
# Multi-frame images link every frame up to this many, else first, key and last.
ALL_FRAME_LINKS_UP_TO = 8
NO_CHANGE_MESSAGE = "Your role cannot change cases. Radiologists and Curators can."


@dataclass
class LifecycleStep:
    status: str
    label: str
    state: str  # "done", "current" or "todo"


def lifecycle_steps(status: str) -> list[LifecycleStep]:
    """The lifecycle bar: steps before the current one are done. A failed case shows every step as to-do."""
    position = LIFECYCLE.index(CaseStatus(status)) if status in LIFECYCLE else -1
    steps = []
    for index, step in enumerate(LIFECYCLE):
        if position < 0 or index > position:
            state = "todo"
        elif index == position:
            state = "current"
        else:
            state = "done"
        steps.append(LifecycleStep(status=step.value, label=step.label, state=state))
    return steps


@dataclass
class FrameLink:
    index: int  # 0-based, as in the frame URL
    label: str  # 1-based, as people count frames


def frame_links(image: Image) -> list[FrameLink]:
    """Links to single frames of a multi-frame image; none for a single frame (the thumbnail links it)."""
    if image.frames <= 1:
        return []
    if image.frames <= ALL_FRAME_LINKS_UP_TO:
        indexes = list(range(image.frames))
    else:
        indexes = sorted({0, image.key_frame, image.frames - 1})
    return [FrameLink(index=i, label=str(i + 1)) for i in indexes]


@dataclass
class TimelineEvent:
    label: str
    at: Any  # datetime
    since_previous: str  # "4 min 10 s" from the previous event


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def case_timeline(case: Case, images: list[Image]) -> list[TimelineEvent]:
    """Received -> predicted -> first review -> reviewed: the turnaround a department reports on."""
    finished = [p.finished_at for i in images for p in i.predictions.all() if p.finished_at]  # type: ignore[attr-defined]
    reviews = sorted(r.submitted_at for i in images for r in i.reviews.all())  # type: ignore[attr-defined]
    moments = [("Received", case.created_at)]
    if finished and all(i.predictions.all() for i in images):  # type: ignore[attr-defined]
        moments.append(("Predicted", max(finished)))
    if reviews:
        moments.append(("First review", reviews[0]))
    if case.status == CaseStatus.REVIEWED and reviews:
        moments.append(("Reviewed", reviews[-1] if len(reviews) > 1 else reviews[0]))
    events, previous = [], None
    for label, at in moments:
        events.append(TimelineEvent(label, at, _duration((at - previous).total_seconds()) if previous else ""))
        previous = at
    return events


@dataclass
class ReviewRow:
    """One image in the review panel: what the AI said, who read it, and the reader's form."""

    image: Image
    classes: list[tuple[int, str]]  # (shortcut digit, class name)
    ai_label: str
    reviews: list[Any]
    mine: Any | None


def review_rows(images: list[Image], *, task: str, user: User) -> list[ReviewRow]:
    rows = []
    for image in images:
        done = [p for p in image.predictions.all() if p.status == "done"]  # type: ignore[attr-defined]
        shown = done[-1] if done else None  # prefetched oldest first: the newest is last
        reviews = list(image.reviews.all())  # type: ignore[attr-defined]
        rows.append(
            ReviewRow(
                image=image,
                classes=list(enumerate(review_class_names(prediction=shown, task=task), start=1)),
                ai_label=shown.label if shown else "",
                reviews=reviews,
                mine=next((r for r in reviews if r.reviewer_id == user.pk), None),
            )
        )
    return rows


@dataclass
class HeaderRow:
    tag: str  # "(0008,0060)", or "" when the key is not in that form
    name: str  # "Modality"
    value: str


_HEADER_KEY = re.compile(r"^(\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\))\s*(.*)$")


def header_rows(header: dict[str, Any]) -> list[HeaderRow]:
    """The de-identified header (keys like "(0008,0060) Modality") as rows; lists and sequences compact, clipped."""
    rows = []
    for key, value in header.items():
        if isinstance(value, str):
            text = value
        elif isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
            text = " \\ ".join(str(v) for v in value)
        elif isinstance(value, (dict, list)):
            text = json.dumps(value, ensure_ascii=False, default=str)
        else:
            text = "" if value is None else str(value)
        if len(text) > HEADER_VALUE_MAX_CHARS:
            text = text[:HEADER_VALUE_MAX_CHARS] + "…"
        match = _HEADER_KEY.match(str(key))
        tag, name = (match.group(1).upper(), match.group(2)) if match else ("", str(key))
        rows.append(HeaderRow(tag=tag, name=name, value=text))
    return rows


def _visible_case(request: HttpRequest, pk: int) -> Case:
    return get_object_or_404(case_list_for_user(user=request.user), pk=pk)  # type: ignore[arg-type]


def _header_image(request: HttpRequest, images: list[Image]) -> Image | None:
    """The image whose header is shown: ``?header=<image id>`` when it is in this case, else the first."""
    wanted = request.GET.get("header", "")
    for image in images:
        if str(image.pk) == wanted:
            return image
    return images[0] if images else None


def _render_case(
    request: HttpRequest,
    case: Case,
    *,
    task_form: TaskChangeForm | None = None,
    priority_form: PriorityForm | None = None,
    status: int = 200,
) -> HttpResponse:
    # Every rendering of a case is a view of patient data, so it is audited.
    audit_record(action="case.viewed", obj=case, site=case.site, request=request)
    series = list(case_series(case=case))
    images = [image for s in series for image in s.images.all()]
    for image in images:
        image.frame_links = frame_links(image)  # type: ignore[attr-defined]
    header_image = _header_image(request, images)
    return render(
        request,
        "cases/case_detail.html",
        {
            "case": case,
            "study": case.study,
            "patient": case.study.patient,
            "series_list": series,
            "image_count": len(images),
            "lifecycle": lifecycle_steps(case.status),
            "is_failed": case.status == CaseStatus.FAILED,
            "can_change": request.user.has_perm("cases.change_case"),
            "task_form": task_form or TaskChangeForm(initial={"task": case.task}),
            "priority_form": priority_form or PriorityForm(initial={"priority": case.priority}),
            "header_image": header_image,
            "can_review": request.user.has_perm("cases.review_case") and case.task in TASK_CLASSES,
            "review_rows": review_rows(images, task=case.task, user=request.user),  # type: ignore[arg-type]
            "opened_token": opened_token(),
            "timeline": case_timeline(case, images),
            "next_case": next_case_for_review(user=request.user, after=case),  # type: ignore[arg-type]
            # The newest prediction of each image (the AI result panel).
            "predicted_images": [(i, list(i.predictions.all())[-1]) for i in images if i.predictions.all()],
            "header_rows": header_rows(header_image.header) if header_image is not None else [],
        },
        status=status,
    )


@require_GET
@ui_view
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One case with its series and instances; 404 when the user may not see it. Audited as 'case.viewed'."""
    return _render_case(request, _visible_case(request, pk))


def _changeable_case(request: HttpRequest, pk: int) -> Case:
    # 404 before 403: whether another site's case exists is not revealed.
    case = _visible_case(request, pk)
    if not request.user.has_perm("cases.change_case"):
        raise PermissionDenied(NO_CHANGE_MESSAGE)
    return case


@require_POST
@ui_view
def case_task(request: HttpRequest, pk: int) -> HttpResponse:
    """Change the case's task (needs change_case); redirects back to the case, or 400 with the form's errors."""
    case = _changeable_case(request, pk)
    form = TaskChangeForm(request.POST)
    if not form.is_valid():
        return _render_case(request, case, task_form=form, status=400)
    user: User = request.user  # type: ignore[assignment]
    try:
        updated = case_change_task(case=case, task=form.cleaned_data["task"], user=user, request=request)
    except DomainError as exc:
        form.add_error("task", exc.message)
        return _render_case(request, case, task_form=form, status=exc.status_code)
    messages.success(request, f"Task set to {updated.get_task_display()}.")
    return redirect("cases:case_detail", pk=case.pk)


@require_POST
@ui_view
def case_priority(request: HttpRequest, pk: int) -> HttpResponse:
    """Change the case's priority (needs change_case); redirects back to the case, or 400 with the form's errors."""
    case = _changeable_case(request, pk)
    form = PriorityForm(request.POST)
    if not form.is_valid():
        return _render_case(request, case, priority_form=form, status=400)
    user: User = request.user  # type: ignore[assignment]
    try:
        updated = case_set_priority(
            case=case, priority=form.cleaned_data["priority"], user=user, request=request
        )
    except DomainError as exc:
        form.add_error("priority", exc.message)
        return _render_case(request, case, priority_form=form, status=exc.status_code)
    messages.success(request, f"Priority set to {updated.get_priority_display()}.")
    return redirect("cases:case_detail", pk=case.pk)
