"""Adding a task as data: a model card that declares a task the platform does not know yet."""

from __future__ import annotations

from django.db import transaction

from cases.models import TaskDefinition
from cases.services.audit import AuditContext, audit_record
from cases.services.routing import routing_rule_add_for_task
from cases.task_registry import task_get, task_keys, task_registry_forget
from oncocore.model_card import ModelCard
from oncocore.tasks import TaskSpec, task_key_problem
from oncoportal.exceptions import InvalidInput


@transaction.atomic
def task_ensure_for_card(*, card: ModelCard, audit: AuditContext | None = None) -> TaskSpec:
    """The task a model card serves, added to the registry when the card declares a new one.

    A card for a known task must predict that task's classes (in any logit
    order); its ``task_definition``, if any, is then not needed and changes
    nothing, so cases and reviews already made keep their meaning. A card for
    an unknown task must declare it; the task is stored and audited
    ('task.declared'), with a routing rule made from its keywords (docs/routing.md).

    Raises:
        InvalidInput: An unknown task the card does not declare, a key that
            cannot name a task, or classes that contradict the known task's.
    """
    source = f"{card.name}@{card.version}"
    if (problem := task_key_problem(card.task)) is not None:
        raise InvalidInput(f"{source}: {problem}")
    try:
        declared = card.declared_task()
    except ValueError as exc:  # a card built in code, not read and validated from model.json
        raise InvalidInput(f"{source}: {exc}") from exc
    # Lock the key's row (if any) so two registrations cannot declare one task twice.
    TaskDefinition.objects.select_for_update().filter(key=card.task).first()
    known = task_get(card.task)
    if known is not None:
        if set(card.class_names) != set(known.classes):
            raise InvalidInput(
                f"{source}: classes {sorted(card.class_names)} contradict task {card.task!r}, "
                f"whose classes are {sorted(known.classes)}"
            )
        return known
    if declared is None:
        raise InvalidInput(
            f"{source}: unknown task {card.task!r} (known: {', '.join(task_keys())}); "
            "a card declares a new task with a task_definition"
        )
    row = TaskDefinition.objects.create(
        key=declared.key,
        classes=list(declared.classes),
        definition=declared.declaration(),
        declared_by=source,
    )
    # Forget now, for this process's next read; and after commit, in case a
    # read inside this transaction cached the row before it was committed.
    task_registry_forget()
    transaction.on_commit(task_registry_forget)
    audit_record(
        action="task.declared",
        audit=audit,
        obj=row,
        detail={"task": declared.key, "classes": list(declared.classes), "card": source},
    )
    # Its body-part keywords route studies to it, as a rule Curators can see and edit.
    routing_rule_add_for_task(spec=declared, audit=audit)
    return declared
