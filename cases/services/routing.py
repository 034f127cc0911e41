"""Changes to the task routing rules (admin, model registration), each audited."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from cases.models import RoutingRule
from cases.services.audit import AuditContext, audit_record
from oncocore.routing import DECLARED_TASK_ORDER, DEFAULT_RULES, keyword_rule
from oncocore.tasks import TaskSpec
from oncoportal.exceptions import InvalidInput

_FIELDS = ("order", "name", "modalities", "field", "pattern", "task", "enabled")


def routing_rules_seed(*, model: Any = RoutingRule) -> int:
    """Store the default rules when there are none at all; returns how many were added.

    Run by the migration that adds the table (with its historical ``model``),
    and by tests after a flush emptied it.
    """
    if model.objects.exists():
        return 0
    rows = [
        model(
            order=order,
            name=rule.name,
            modalities=" ".join(sorted(rule.modalities)),
            field=rule.field,
            pattern=rule.pattern,
            task=rule.task,
        )
        for order, rule in DEFAULT_RULES
    ]
    model.objects.bulk_create(rows)
    return len(rows)


def _snapshot(rule: RoutingRule) -> dict[str, Any]:
    return {name: getattr(rule, name) for name in _FIELDS}


@transaction.atomic
def routing_rule_save(*, rule: RoutingRule, audit: AuditContext | None = None) -> RoutingRule:
    """Validate and store a new or changed rule; audited as 'routing_rule.created' or '.changed'.

    Raises:
        InvalidInput: The rule's problems (an invalid regular expression, an unknown field or task), one line.
    """
    rule.modalities = " ".join(sorted(rule.modality_set()))
    try:
        rule.full_clean()
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise InvalidInput(f"Routing rule not saved: {problems}") from exc
    created = rule.pk is None
    before = None if created else RoutingRule.objects.filter(pk=rule.pk).values(*_FIELDS).first()
    rule.save()
    audit_record(
        action="routing_rule.created" if created else "routing_rule.changed",
        obj=rule,
        audit=audit,
        detail={"rule": _snapshot(rule), **({} if created else {"before": before})},
    )
    return rule


@transaction.atomic
def routing_rule_delete(*, rule: RoutingRule, audit: AuditContext | None = None) -> None:
    """Remove a rule; audited as 'routing_rule.deleted' with what it was."""
    detail = {"rule": _snapshot(rule)}
    audit_record(action="routing_rule.deleted", obj=rule, audit=audit, detail=detail)
    rule.delete()


def routing_rule_add_for_task(*, spec: TaskSpec, audit: AuditContext | None = None) -> RoutingRule | None:
    """The rule a newly declared task's body-part keywords make, stored (None when it declares none)."""
    made = keyword_rule(spec)
    if made is None:
        return None
    row = RoutingRule(
        order=DECLARED_TASK_ORDER,
        name=made.name[:120],
        modalities=" ".join(sorted(made.modalities)),
        field=made.field,
        pattern=made.pattern,
        task=made.task,
    )
    return routing_rule_save(rule=row, audit=audit)
