"""Changes to a case's routing (its task and priority, by a user) and to its AI summary, the study result (by the pipeline)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction

from cases.models import Case, Image, Priority, User
from cases.services.audit import AuditContext, audit_record
from cases.signals import case_task_changed
from cases.task_registry import task_get, task_keys
from oncocore.study_result import ImageOutcome, StudyFinding, study_finding
from oncocore.tasks import UNASSIGNED
from oncoportal.db import rows_update
from oncoportal.exceptions import InvalidInput


@transaction.atomic
def case_change_task(*, case: Case, task: str, user: User, audit: AuditContext | None = None) -> Case:
    """Set the case's task; returns the updated case.

    Setting a different task clears ``task_inferred`` (a person decided), records a
    'case.task_changed' audit event and, after commit, sends ``case_task_changed``
    with ``case_id``, ``task`` and ``previous_task`` so listeners (inference) can
    re-queue. Idempotent: setting the current task writes and sends nothing.
    Raises InvalidInput for a value that is not a task of the registry (or Unassigned).
    """
    if task != UNASSIGNED and task_get(task) is None:
        raise InvalidInput(f"Unknown task {task!r}; choose one of {', '.join(task_keys(unassigned=True))}.")
    locked, previous = _case_set_field(
        case=case, field="task", value=task, action="case.task_changed", user=user, audit=audit,
        also={"task_inferred": False, "task_reason": ""},  # a person decided, not a routing rule
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
def case_set_priority(*, case: Case, priority: int, user: User, audit: AuditContext | None = None) -> Case:
    """Set the case's priority (a Priority value); returns the updated case.

    Records a 'case.priority_changed' audit event. Idempotent: the current
    priority writes nothing. Raises InvalidInput for a value that is not a Priority.
    """
    if priority not in Priority.values:
        labels = ", ".join(f"{p.value} ({p.label})" for p in Priority)
        raise InvalidInput(f"Unknown priority {priority!r}; choose one of {labels}.")
    locked, _ = _case_set_field(
        case=case,
        field="priority",
        value=priority,
        action="case.priority_changed",
        user=user,
        audit=audit,
    )
    return locked


def _case_set_field(
    *,
    case: Case,
    field: str,
    value: object,
    action: str,
    user: User,
    audit: AuditContext | None,
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
        action=action,
        actor=user,
        obj=locked,
        site=locked.site,
        audit=audit,
        detail={"from": previous, "to": value},
    )
    return locked, previous


# What a Curator may edit on a case besides task and priority, which have services of their own.
CASE_EDIT_FIELDS = ("assignee", "flagged", "flag_reason")


@transaction.atomic
def case_edit(
    *, case: Case, changes: Mapping[str, Any], user: User, audit: AuditContext | None = None
) -> Case:
    """Apply a Curator's edits to a case (the admin's form), each through the service that owns it.

    ``changes`` maps field names to new values: ``task`` goes through
    :func:`case_change_task` (so predictions are re-queued for the new task and
    the AI summary refreshed, as on the case page), ``priority`` through
    :func:`case_set_priority`, and ``assignee``, ``flagged`` and ``flag_reason``
    are written here. One 'case.admin_changed' event lists the fields; task and
    priority also get their own events. No changes write nothing. Raises
    InvalidInput for a field not editable here or a bad value; nothing is
    written then.
    """
    unknown = sorted(set(changes) - {"task", "priority", *CASE_EDIT_FIELDS})
    if unknown:
        raise InvalidInput(f"These case fields cannot be edited: {', '.join(unknown)}.")
    if not changes:
        return case
    plain = {name: changes[name] for name in CASE_EDIT_FIELDS if name in changes}
    _check_plain_edits(plain)
    locked = Case.objects.select_for_update().get(pk=case.pk)
    if plain:
        for name, value in plain.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*plain, "updated_at"])
    if "task" in changes:
        locked = case_change_task(case=locked, task=changes["task"], user=user, audit=audit)
    if "priority" in changes:
        locked = case_set_priority(case=locked, priority=changes["priority"], user=user, audit=audit)
    audit_record(
        action="case.admin_changed",
        actor=user,
        obj=locked,
        site=locked.site,
        audit=audit,
        detail={"fields": sorted(changes)},
    )
    return locked


def _check_plain_edits(plain: Mapping[str, Any]) -> None:
    if "assignee" in plain and plain["assignee"] is not None and not isinstance(plain["assignee"], User):
        raise InvalidInput("The assignee must be a user, or none.")
    if "flagged" in plain and not isinstance(plain["flagged"], bool):
        raise InvalidInput("Flagged must be true or false.")
    longest = Case._meta.get_field("flag_reason").max_length or 0
    if "flag_reason" in plain and (
        not isinstance(plain["flag_reason"], str) or len(plain["flag_reason"]) > longest
    ):
        raise InvalidInput(f"The flag reason must be text of at most {longest} characters.")


def study_order_key(
    *, series_number: int | None, series_id: int, instance_number: int | None, image_id: int
) -> tuple[int, int, int, int, int, int]:
    """Where an image sits in its study: series by number, then instances by number (unnumbered last).

    The study rule breaks ties in this order, and "image 12 of 40" counts in
    it; sorted here rather than in SQL, where NULLs sort first on SQLite and
    last on PostgreSQL.
    """
    return (
        series_number is None,
        series_number or 0,
        series_id,
        instance_number is None,
        instance_number or 0,
        image_id,
    )


def images_in_study_order(images: Iterable[Image]) -> list[Image]:
    """The images sorted by :func:`study_order_key` (each needs its ``series`` loaded)."""
    return sorted(
        images,
        key=lambda i: study_order_key(
            series_number=i.series.series_number,
            series_id=i.series_id,
            instance_number=i.instance_number,
            image_id=i.pk,
        ),
    )


def image_outcomes(*, task: str, images: Sequence[Image]) -> list[ImageOutcome]:
    """Each image's newest finished prediction for ``task``, as the study rule reads it.

    ``images`` in study order, with ``predictions__model_version`` prefetched
    (oldest first, as ``cases.selectors.case_series`` loads them); an image
    with no such prediction is left out. The same choice as the pipeline's
    refresh of the case summary, so the page ranks what the worklist shows.
    """
    outcomes = []
    for image in images:
        done = [
            p
            for p in image.predictions.all()  # inference's reverse relation
            if p.status == "done" and p.model_version.task == task
        ]
        if done:
            p = max(done, key=lambda p: p.pk)
            outcomes.append(
                ImageOutcome(
                    image_id=image.pk,
                    label=p.label,
                    confidence=p.confidence,
                    probabilities=p.probabilities or {},
                    uncertainty=p.uncertainty,
                    untrained=p.untrained,
                    in_scope=p.in_scope,
                )
            )
    return outcomes


def case_study_finding(*, task: str, outcomes: Sequence[ImageOutcome]) -> StudyFinding:
    """The study result by the one rule (``oncocore.study_result``), with the task's positive classes."""
    if not outcomes:
        return StudyFinding.empty()  # no registry look-up for nothing
    spec = task_get(task)
    return study_finding(outcomes, spec.positive_classes if spec is not None else frozenset())


def ai_summary(*, task: str, results: Sequence[ImageOutcome]) -> dict[str, Any]:
    """The case's AI summary fields: the study result of its images' outcomes (in study order).

    The lead is the most suspicious image (docs/study-result.md): its label,
    confidence and class probabilities become the case's; the case is
    AI-positive when that label is a positive finding (then some image is);
    uncertainty is the highest of any image, so one doubtful image ranks the
    whole case. No results give an empty summary (e.g. after a task change).
    """
    finding = case_study_finding(task=task, outcomes=results)
    return {
        "ai_label": finding.label,
        "ai_confidence": finding.confidence,
        "ai_uncertainty": finding.uncertainty,
        "ai_positive": finding.positive,
        "ai_untrained": finding.untrained,
        "ai_probabilities": finding.probabilities,
        "ai_key_image": finding.key_image_id,
        "ai_images": finding.images,
        "ai_out_of_scope": finding.out_of_scope,
    }


def case_set_ai_summary(*, case_id: int, task: str, results: Sequence[ImageOutcome]) -> None:
    """Keep the case's AI summary columns (worklist sorting and filtering) in step with its predictions."""
    Case.objects.filter(pk=case_id).update(**ai_summary(task=task, results=results))


def cases_set_ai_summaries(*, summaries: Mapping[int, tuple[str, Sequence[ImageOutcome]]]) -> None:
    """:func:`case_set_ai_summary` for many cases (case id -> task and results), one prepared UPDATE."""
    rows_update(
        Case,
        fields=list(ai_summary(task="", results=[])),
        rows={
            case_id: ai_summary(task=task, results=results) for case_id, (task, results) in summaries.items()
        },
    )
