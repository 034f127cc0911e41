"""The "label these next" queue: the Curator page's tab and the readers' page (docs/active-learning.md).

Both read the same selector. The Curator sees every figure, shadow results
included. A reader sees the cases they have not read yet, ranked without
shadow results, and under a task's blind first reading only the order: no
score, no reason, no AI label and no AI-chosen image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from cases.models import Case, User
from cases.selectors import blind_reading_tasks
from cases.templatetags.cases_tags import class_label
from cases.views.access import AuthenticatedHttpRequest, ui_view
from lifecycle.forms_next import QueueFilterForm
from lifecycle.selectors_next import label_next_queue, label_next_rows
from oncocore.active_learning import STRATEGY_LABELS, CaseScore, ImageScore, Strategy, reasons

View = TypeVar("View", bound=Callable[..., HttpResponseBase])
PAGE_SIZE = 50
# Cases whose every image is outside the model's scope, shown under the queue (the first ones).
OUT_OF_SCOPE_SHOWN = 20
# Bins of the score histogram on the Curator page.
HISTOGRAM_BINS = 10

FORMULAS = {
    Strategy.UNCERTAINTY: "U = (entropy + (1 - margin)) / 2",
    Strategy.DISAGREEMENT: "D = max(member disagreement, challenger disagreement)",
    Strategy.COMBINED: "1 - (1 - U)(1 - D)",
}
# Readers' queues rank without shadow results (they never see them, nor an order made from them).
READER_FORMULAS = {**FORMULAS, Strategy.DISAGREEMENT: "D = member disagreement"}


def permission_view(permission: str, message: str) -> Callable[[View], View]:
    """A signed-in UI user holding ``permission``; the 403 page for anyone else."""

    def decorate(view: View) -> View:
        @ui_view
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not request.user.has_perm(permission):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return cast(View, wrapped)

    return decorate


@dataclass(frozen=True)
class QueueRow:
    """One row of either page: the case, its place, and what may be shown of why."""

    rank: int
    case: Case
    thumbnail_id: int | None
    hidden: bool
    score: float | None = None
    label: str = ""
    why: tuple[str, ...] = ()


def explain(top: ImageScore, task: str, *, with_challenger: bool) -> tuple[str, ...]:
    """The reasons as the page words them ("members disagree: 0.41")."""
    words = []
    for kind, value in reasons(top, with_challenger=with_challenger):
        if kind == "uncertain":
            words.append(f"uncertain: {value:.2f} (entropy {top.entropy:.2f}, margin {top.margin:.2f})")
        elif kind == "members":
            words.append(f"members disagree: {value:.2f}")
        else:
            said = top.challenger_label or ""
            differs = f", says {class_label(said, task)}" if said and said != top.label else ""
            words.append(f"challenger disagrees: {value:.2f}{differs}")
    return tuple(words) or ("confident, no disagreement",)


def queue_rows(
    *, user: User, page: Page[CaseScore], hidden_tasks: set[str], with_challenger: bool
) -> list[QueueRow]:
    """The page's rows (one query): a task in ``hidden_tasks`` shows its order only."""
    scores: Sequence[CaseScore] = list(page.object_list)
    cases = {case.pk: case for case in label_next_rows(user=user, case_ids=[s.case_id for s in scores])}
    rows = []
    for rank, score in enumerate(scores, start=page.start_index()):
        case = cases.get(score.case_id)
        if case is None:  # gone between the two reads
            continue
        if case.task in hidden_tasks:
            first = cast(int | None, getattr(case, "first_image_id", None))
            rows.append(QueueRow(rank=rank, case=case, thumbnail_id=first, hidden=True))
            continue
        rows.append(
            QueueRow(
                rank=rank,
                case=case,
                thumbnail_id=score.top.image_id,
                hidden=False,
                score=score.score,
                label=class_label(score.top.label, case.task),
                why=explain(score.top, case.task, with_challenger=with_challenger),
            )
        )
    return rows


def histogram(scores: Sequence[float], bins: int = HISTOGRAM_BINS) -> list[dict[str, float]]:
    """Counts of scores per bin of [0, 1] and each bar's place in a 300 x 70 px plot (inline SVG)."""
    counts = [0] * bins
    for s in scores:
        counts[min(max(int(s * bins), 0), bins - 1)] += 1
    tallest = max(counts, default=0) or 1
    width = 300 / bins
    out = []
    for i, n in enumerate(counts):
        bar = round(70.0 * n / tallest, 1)
        out.append(
            {"low": i / bins, "high": (i + 1) / bins, "n": n, "x": i * width, "y": 70.0 - bar, "bar": bar}
        )
    return out


@require_GET
@permission_view("curation.curate_dataset", "The label-next queue is for Curators (curate_dataset).")
def next_queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The Curator's queue: every unreviewed predicted case ranked, shadow results counted."""
    form = QueueFilterForm(request.GET or None)
    filters = form.filters()
    queue = label_next_queue(user=request.user, filters=filters)
    page = Paginator(queue.cases, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = queue_rows(user=request.user, page=page, hidden_tasks=set(), with_challenger=True)
    outside = label_next_rows(user=request.user, case_ids=queue.out_of_scope[:OUT_OF_SCOPE_SHOWN])
    return render(
        request,
        "lifecycle/next.html",
        {
            "curation_tab": "next",
            "form": form,
            "filters": filters,
            "formula": FORMULAS[filters.strategy],
            "strategy_label": STRATEGY_LABELS[filters.strategy],
            "page": page,
            "rows": rows,
            "histogram": histogram([c.score for c in queue.cases]),
            "out_of_scope": outside,
            "out_of_scope_total": len(queue.out_of_scope),
        },
    )


@require_GET
@permission_view("cases.review_case", "The label-next queue is for readers (review_case).")
def reader_queue(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A reader's queue: the cases they have not read, ranked; blind tasks show the order only."""
    form = QueueFilterForm(request.GET or None)
    filters = form.filters()
    queue = label_next_queue(user=request.user, filters=filters, reader=True)
    page = Paginator(queue.cases, PAGE_SIZE).get_page(request.GET.get("page"))
    hidden = blind_reading_tasks(user=request.user)
    rows = queue_rows(user=request.user, page=page, hidden_tasks=hidden, with_challenger=False)
    return render(
        request,
        "lifecycle/label_next.html",
        {
            "form": form,
            "filters": filters,
            "formula": READER_FORMULAS[filters.strategy],
            "page": page,
            "rows": rows,
            "any_hidden": any(row.hidden for row in rows),
        },
    )
