"""Changes a user makes to a case's routing: its task and its priority."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest

from cases.models import Case, Priority, Task, User
from cases.services.audit import audit_record
from cases.signals import case_task_changed
from oncoportal.exceptions import InvalidInput


@transaction.atomic
def case_change_task(*, case: Case, task: str, user: User, request: HttpRequest | None = None) -> Case:
    """Set the case's task; returns the updated case.

    Setting a different task clears ``task_inferred`` (a person decided), records a
    'case.task_changed' audit event and, after commit, sends ``case_task_changed``
    with ``case_id``, ``task`` and ``previous_task`` so listeners (inference) can
    re-queue. Idempotent: setting the current task writes and sends nothing.
    Raises InvalidInput for a value that is not a Task.
    """
    if task not in Task.values:
        raise InvalidInput(f"Unknown task {task!r}; choose one of {', '.join(Task.values)}.")
    locked, previous = _case_set_field(
        case=case, field="task", value=task, action="case.task_changed", user=user, request=request,
        also={"task_inferred": False},  # a person decided
    )  # fmt: skip
    if previous == task:
        return locked
    # After commit, so a listener that queues work is sure to read the new task.
    transaction.on_commit(
        lambda: case_task_changed.send(sender=Case, case_id=locked.pk, task=task, previous_task=previous),
        robust=True,  # a broker outage must not undo a committed change; the sweeper re-sends
    )
    return locked


@transaction.atomic
def case_set_priority(*, case: Case, priority: int, user: User, request: HttpRequest | None = None) -> Case:
    """Set the case's priority (a Priority value); returns the updated case.

    Records a 'case.priority_changed' audit event. Idempotent: the current
    priority writes nothing. Raises InvalidInput for a value that is not a Priority.
    """
    if priority not in Priority.values:
        labels = ", ".join(f"{p.value} ({p.label})" for p in Priority)
        raise InvalidInput(f"Unknown priority {priority!r}; choose one of {labels}.")
    locked, _ = _case_set_field(
        case=case, field="priority", value=priority, action="case.priority_changed", user=user, request=request
    )
    return locked


def _case_set_field(
    *,
    case: Case,
    field: str,
    value: object,
    action: str,
    user: User,
    request: HttpRequest | None,
    also: dict[str, object] | None = None,
) -> tuple[Case, object]:
    """Lock the row, set one field (plus ``also``) if it changes, and audit the change.

    Returns (case, previous value); an unchanged value writes nothing. The lock
    makes two people changing the same case at once leave one clear trail.
    """
    locked = Case.objects.select_for_update().get(pk=case.pk)
    previous = getattr(locked, field)
    if previous == value:
        return locked, previous
    updates = {field: value, **(also or {})}
    for name, new in updates.items():
        setattr(locked, name, new)
    locked.save(update_fields=[*updates, "updated_at"])
    audit_record(
        action=action, actor=user, obj=locked, site=locked.site, request=request, detail={"from": previous, "to": value}
    )
    return locked, previous
