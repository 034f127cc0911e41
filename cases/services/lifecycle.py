"""Case status changes: the lifecycle table in ``cases.models.case`` is the only authority."""

from __future__ import annotations

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
    sources = [src for src, targets in ALLOWED_TRANSITIONS.items() if status in targets]
    now = timezone.now()
    # Leaving "failed" clears the old reason; entering it records the new one.
    fields: dict[str, object] = {
        "status": status,
        "status_changed_at": now,
        "updated_at": now,
        "failure_reason": reason[:2000] if status == "failed" else "",
    }
    changed = Case.objects.filter(pk=case_id, status__in=sources).update(**fields) == 1
    if not changed and strict:
        current = Case.objects.filter(pk=case_id).values_list("status", flat=True).first()
        raise TransitionNotAllowed(f"case {case_id} cannot go from {current} to {status}")
    return changed
