"""Case status changes: the lifecycle table in ``cases.models.case`` is the only authority."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from cases.models import Case
from cases.models.case import ALLOWED_TRANSITIONS
from oncoportal.exceptions import TransitionNotAllowed


def case_set_status(*, case_id: int, status: str, reason: str = "", strict: bool = False) -> bool:
    """Move a case to ``status`` if the lifecycle allows it from where it is now.

    A conditional UPDATE, so two workers racing cannot both move it. Returns
    True when the row changed; with ``strict`` an impossible move raises
    TransitionNotAllowed instead of returning False.
    """
    changed = cases_set_status(case_ids=[case_id], status=status, reason=reason) == 1
    if not changed and strict:
        current = Case.objects.filter(pk=case_id).values_list("status", flat=True).first()
        raise TransitionNotAllowed(f"case {case_id} cannot go from {current} to {status}")
    return changed


def cases_set_status(*, case_ids: Sequence[int], status: str, reason: str = "") -> int:
    """:func:`case_set_status` for many cases in one conditional UPDATE; returns how many moved.

    Each case moves only if the lifecycle allows ``status`` from where it is
    now; the others are left as they are.
    """
    if not case_ids:
        return 0
    sources = [src for src, targets in ALLOWED_TRANSITIONS.items() if status in targets]
    now = timezone.now()
    # Leaving "failed" clears the old reason; entering it records the new one.
    fields: dict[str, object] = {
        "status": status,
        "status_changed_at": now,
        "updated_at": now,
        "failure_reason": reason[:2000] if status == "failed" else "",
    }
    return Case.objects.filter(pk__in=list(case_ids), status__in=sources).update(**fields)


def cases_set_status_moved(*, case_ids: Sequence[int], status: str, reason: str = "") -> list[int]:
    """:func:`cases_set_status` that says which cases moved (to announce each once): two statements.

    The rows that may move are locked first, so exactly those move and a
    second run racing this one finds them moved already.
    """
    if not case_ids:
        return []
    sources = [src for src, targets in ALLOWED_TRANSITIONS.items() if status in targets]
    with transaction.atomic(savepoint=False):  # the lock needs a transaction; no savepoint inside one
        moved = sorted(
            Case.objects.select_for_update()
            .filter(pk__in=list(case_ids), status__in=sources)
            .values_list("pk", flat=True)
        )
        cases_set_status(case_ids=moved, status=status, reason=reason)
    return moved
