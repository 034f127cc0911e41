"""The case page's history: every view, change, reading, prediction and export, with its source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cases.models import AuditSource, Case
from cases.selectors import audit_trail_for_case

# The newest events shown on the page (the API's audit endpoint pages through all of them).
HISTORY_ROWS = 200

ACTIONS = {
    "case.created": "Received",
    "case.viewed": "Viewed",
    "case.task_changed": "Task changed",
    "case.priority_changed": "Priority changed",
    "case.retried": "Processing retried",
    "case.admin_changed": "Changed in the admin",
    "case.sent_to_adjudication": "Sent to adjudication",
    "prediction.completed": "AI result",
    "review.blind_reading": "Blind reading (AI hidden)",
    "review.submitted": "Reading",
    "adjudication.decided": "Adjudicated",
    "result.resend": "Result resent to the PACS",
    "results.identity_forgotten": "Identity forgotten",
}


@dataclass
class HistoryRow:
    at: Any  # datetime
    who: str
    what: str
    source: str
    detail: str


def _detail(detail: dict[str, Any]) -> str:
    keep = ("label", "decision", "ai_label", "task", "priority", "destination", "model")
    return " · ".join(
        f"{k.replace('_', ' ')}: {detail[k] if detail[k] != '' else '—'}" for k in keep if k in detail
    )


def case_history(*, case: Case) -> tuple[list[HistoryRow], int]:
    """The newest events first (at most HISTORY_ROWS) and how many there are in all."""
    trail = audit_trail_for_case(case=case)
    total = trail.count()
    sources = dict(AuditSource.choices)
    rows = [
        HistoryRow(
            at=e.at,
            who=e.actor_username or "system",
            what=ACTIONS.get(e.action, e.action),
            source=sources.get(e.source, "not recorded"),
            detail=_detail(e.detail or {}),
        )
        for e in trail.order_by("-at", "-pk")[:HISTORY_ROWS]
    ]
    return rows, total
