"""The case page (study result, viewer, review, series) and the small forms on it (task, priority)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from cases.forms import PriorityForm, TaskChangeForm
from cases.models import Case, CaseStatus, Image, User
from cases.selectors import case_list_for_user, case_series, next_case_for_review
from cases.services.audit import audit_record
from cases.services.case import case_change_task, case_set_priority
from cases.services.review import ImageReading, readers_required, review_class_names
from cases.task_registry import task_choices, task_classes, task_get, task_window_presets
from cases.views.access import AuthenticatedHttpRequest, ui_view, web_audit
from cases.views.review import opened_token
from cases.views.study_result import study_result_view
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


def lifecycle_steps(status: str, *, adjudicated: bool = False) -> list[LifecycleStep]:
    """The lifecycle bar: steps before the current one are done. A failed case shows every step as to-do.

    Adjudication is a step only for cases whose readers disagreed.
    """
    lifecycle = list(LIFECYCLE)
    if status == CaseStatus.ADJUDICATION or adjudicated:
        lifecycle.insert(lifecycle.index(CaseStatus.REVIEWED), CaseStatus.ADJUDICATION)
    position = lifecycle.index(CaseStatus(status)) if status in lifecycle else -1
    steps = []
    for index, step in enumerate(lifecycle):
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
    """Received -> predicted -> first review -> (adjudicated) -> reviewed: the turnaround a department reports on."""
    finished = [p.finished_at for i in images for p in i.predictions.all() if p.finished_at]
    reviews = sorted(r.submitted_at for i in images for r in i.reviews.all())
    decided = [i.adjudication.decided_at for i in images if getattr(i, "adjudication", None)]
    moments = [("Received", case.created_at)]
    if finished and all(i.predictions.all() for i in images):
        moments.append(("Predicted", max(finished)))
    if len(reviews) > 1 or (reviews and case.status != CaseStatus.REVIEWED):
        moments.append(("First review", reviews[0]))
    if decided:
        moments.append(("Adjudicated", max(decided)))
    if case.status == CaseStatus.REVIEWED:
        # The moment the case became reviewed (a later extra reading does not move it).
        moments.append(("Reviewed", case.status_changed_at))
    events, previous = [], None
    for label, at in moments:
        events.append(
            TimelineEvent(label, at, _duration((at - previous).total_seconds()) if previous else "")
        )
        previous = at
    return events


@dataclass
class ReviewRow:
    """One image in the review panel: what the AI said, who read it, and the reader's (or Curator's) form."""

    image: Image
    classes: list[tuple[int, str, str]]  # (shortcut digit, class name, readable name)
    ai_label: str
    reviews: list[Any]  # empty while a blinded double read hides them from this user
    mine: Any | None
    hidden_readings: int  # readings done by others that this user may not see yet
    readers_required: int
    disputed: bool  # two readers disagreed
    adjudication: Any | None
    can_adjudicate: bool


def review_rows(images: list[Image], *, case: Case, user: User) -> list[ReviewRow]:
    required = readers_required(task=case.task)
    spec = task_get(case.task)
    adjudicator = user.has_perm("cases.adjudicate_case") and case.status == CaseStatus.ADJUDICATION
    rows = []
    for image in images:
        done = [p for p in image.predictions.all() if p.status == "done"]
        shown = done[-1] if done else None  # prefetched oldest first: the newest is last
        reading = ImageReading(image_id=image.pk, required=required, reviews=list(image.reviews.all()))
        hidden = reading.hidden_from(user)
        adjudication = getattr(image, "adjudication", None)
        rows.append(
            ReviewRow(
                image=image,
                classes=[
                    (digit, name, spec.class_label(name) if spec is not None else name)
                    for digit, name in enumerate(
                        review_class_names(prediction=shown, task=case.task), start=1
                    )
                ],
                ai_label=shown.label if shown else "",
                reviews=[] if hidden else reading.reviews,
                mine=next((r for r in reading.reviews if r.reviewer_id == user.pk), None),
                hidden_readings=len(reading.reviews) if hidden else 0,
                readers_required=required,
                disputed=reading.disagreement,
                adjudication=adjudication,
                can_adjudicate=adjudicator
                and reading.disagreement
                and adjudication is None
                and all(r.reviewer_id != user.pk for r in reading.reviews),
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


@dataclass
class SeriesViewer:
    """One series in the image viewer: its images (each with ``.prediction``) and the script's data."""

    series: Any  # Series
    images: list[Image]
    data: dict[str, Any]  # read by static/js/viewer.js through json_script
    presets: list[dict[str, object]]  # its window buttons: by modality (CT presets on CT only)


_FRAME = 999_999_999  # reversed into a frame URL, then replaced by "{frame}" for the script


def _frame_url(name: str, image: Image) -> str:
    return reverse(name, kwargs={"pk": image.pk, "frame": _FRAME}).replace(str(_FRAME), "{frame}")


def series_viewer(series: Any, *, start_image: Image | None, task: str) -> SeriesViewer:
    """The viewer's stack for one series: its images x frames in order, starting at ``start_image`` if it is here."""
    images = list(series.images.all())
    entries = []
    for image in images:
        predictions = list(image.predictions.all())
        image.prediction = predictions[-1] if predictions else None
        p = image.prediction
        has_map = p is not None and p.status == "done" and bool(p.saliency_raw)
        row, col = image.pixel_spacing_row, image.pixel_spacing_col
        entries.append(
            {
                "id": image.pk,
                "label": f"Image {image.instance_number if image.instance_number is not None else image.pk}",
                "frames": image.frames,
                "keyFrame": image.key_frame,
                # Rows are drawn this much taller than columns (non-square pixels).
                "aspect": row / col if row and col and 0.2 < row / col < 5 else 1,
                "pixels": _frame_url("cases:image_pixels", image),
                "png": _frame_url("cases:image_frame", image),
                "header": reverse("cases:image_header", kwargs={"pk": image.pk}),
                # cases never imports inference; the URL name is the only contract.
                "saliency": reverse("inference:prediction_file", args=[p.pk, "saliency"])
                if has_map
                else None,
                "saliencyFrame": p.frame if has_map else None,
            }
        )
    start = next((i for i, image in enumerate(images) if image == start_image), 0)
    start_frame = images[start].key_frame if images else 0
    presets = task_window_presets(task, modality=series.modality or "")
    return SeriesViewer(series, images, {"images": entries, "start": [start, start_frame]}, presets)


def _visible_case(request: AuthenticatedHttpRequest, pk: int) -> Case:
    return get_object_or_404(case_list_for_user(user=request.user), pk=pk)


def _header_image(request: AuthenticatedHttpRequest, images: list[Image]) -> Image | None:
    """The image whose header is shown: ``?header=<image id>`` when it is in this case, else the first."""
    wanted = request.GET.get("header", "")
    for image in images:
        if str(image.pk) == wanted:
            return image
    return images[0] if images else None


def _render_case(
    request: AuthenticatedHttpRequest,
    case: Case,
    *,
    task_form: TaskChangeForm | None = None,
    priority_form: PriorityForm | None = None,
    status: int = 200,
) -> HttpResponse:
    # Every rendering of a case is a view of patient data, so it is audited.
    audit_record(action="case.viewed", obj=case, site=case.site, audit=web_audit(request))
    series = list(case_series(case=case))
    images = [image for s in series for image in s.images.all()]
    for image in images:
        image.frame_links = frame_links(image)  # type: ignore[attr-defined]
    header_image = _header_image(request, images)
    # The study result and the images ranked by its rule, from the stored predictions.
    study_result = study_result_view(case=case, images=images)
    key_series = next((i.series_id for i in images if i.pk == study_result.key_image_id), None)
    # ?header= says where the viewer starts (the series list links it); else at the key image.
    start_image = (
        header_image
        if request.GET.get("header")
        else next((i for i in images if i.pk == study_result.key_image_id), None)
    )
    # One viewer per series; each image's side panel shows its newest prediction.
    # The key image's series first.
    viewers = [
        series_viewer(s, start_image=start_image, task=case.task)
        for s in sorted(series, key=lambda s: s.pk != key_series)
        if s.images.all()
    ]
    return render(
        request,
        "cases/case_detail.html",
        {
            "case": case,
            "study": case.study,
            "patient": case.study.patient,
            "series_list": series,
            "image_count": len(images),
            "lifecycle": lifecycle_steps(
                case.status, adjudicated=any(getattr(i, "adjudication", None) for i in images)
            ),
            "is_failed": case.status == CaseStatus.FAILED,
            "can_change": request.user.has_perm("cases.change_case"),
            "task_form": task_form or TaskChangeForm(initial={"task": case.task}),
            "task_needed_choices": task_choices(unassigned=False),
            "priority_form": priority_form or PriorityForm(initial={"priority": case.priority}),
            "header_image": header_image,
            "can_review": request.user.has_perm("cases.review_case")
            and bool(task_classes(case.task))
            and case.status != CaseStatus.ADJUDICATION,
            "study_result": study_result,
            # Readers go through the images most suspicious first (the rule's ranking).
            "review_rows": review_rows(study_result.image_order(images), case=case, user=request.user),
            "opened_token": opened_token(),
            "timeline": case_timeline(case, images),
            "next_case_id": next_case_for_review(user=request.user, after=case),
            "viewers": viewers,
            # One definition of the presets (the registry's), for the buttons and viewer.js:
            # every viewer's, once; each viewer shows the buttons of its modality.
            "window_presets": list({p["key"]: p for v in viewers for p in v.presets}.values()),
            "header_rows": header_rows(header_image.header) if header_image is not None else [],
        },
        status=status,
    )


@require_GET
@ui_view
def case_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One case with its series and instances; 404 when the user may not see it. Audited as 'case.viewed'."""
    return _render_case(request, _visible_case(request, pk))


def _changeable_case(request: AuthenticatedHttpRequest, pk: int) -> Case:
    # 404 before 403: whether another site's case exists is not revealed.
    case = _visible_case(request, pk)
    if not request.user.has_perm("cases.change_case"):
        raise PermissionDenied(NO_CHANGE_MESSAGE)
    return case


@require_POST
@ui_view
def case_task(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Change the case's task (needs change_case); redirects back to the case, or 400 with the form's errors."""
    case = _changeable_case(request, pk)
    form = TaskChangeForm(request.POST)
    if not form.is_valid():
        return _render_case(request, case, task_form=form, status=400)
    user: User = request.user
    try:
        updated = case_change_task(
            case=case, task=form.cleaned_data["task"], user=user, audit=web_audit(request)
        )
    except DomainError as exc:
        form.add_error("task", exc.message)
        return _render_case(request, case, task_form=form, status=exc.status_code)
    messages.success(request, f"Case #{case.pk}: task set to {updated.get_task_display()}.")
    # The worklist sets a task in place and comes back to the same page.
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("cases:case_detail", pk=case.pk)


@require_POST
@ui_view
def case_priority(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Change the case's priority (needs change_case); redirects back to the case, or 400 with the form's errors."""
    case = _changeable_case(request, pk)
    form = PriorityForm(request.POST)
    if not form.is_valid():
        return _render_case(request, case, priority_form=form, status=400)
    user: User = request.user
    try:
        updated = case_set_priority(
            case=case, priority=form.cleaned_data["priority"], user=user, audit=web_audit(request)
        )
    except DomainError as exc:
        form.add_error("priority", exc.message)
        return _render_case(request, case, priority_form=form, status=exc.status_code)
    messages.success(request, f"Priority set to {updated.get_priority_display()}.")
    return redirect("cases:case_detail", pk=case.pk)
