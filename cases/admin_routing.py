"""Admin for the task routing rules (docs/routing.md): Curators add, edit, order and disable them; every change audited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from cases.models import AuditSource, RoutingRule
from cases.services.audit import AuditContext
from cases.services.routing import routing_rule_delete, routing_rule_save
from cases.task_registry import task_choices
from oncocore.tasks import UNASSIGNED


def _task_choices() -> list[tuple[str, str]]:
    return [
        (key, "Unassigned: no model reads these (ask for a task)" if key == UNASSIGNED else label)
        for key, label in task_choices(unassigned=True)
    ]


class RoutingRuleForm(forms.ModelForm):
    task = forms.ChoiceField(choices=_task_choices, help_text=RoutingRule._meta.get_field("task").help_text)

    class Meta:
        model = RoutingRule
        fields = ["order", "name", "modalities", "field", "pattern", "task", "enabled"]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    """The rules in the order they are tried; the model's clean() refuses an invalid pattern with the reason."""

    form = RoutingRuleForm
    list_display = ["order", "name", "modalities", "field", "pattern", "task", "enabled"]
    list_display_links = ["name"]
    list_editable = ["order", "enabled"]
    list_filter = ["task", "field", "enabled"]
    search_fields = ["name", "pattern"]

    def _audit(self, request: HttpRequest) -> AuditContext:
        return AuditContext.from_request(request, source=AuditSource.WEB)

    def save_model(self, request: HttpRequest, obj: RoutingRule, form: Any, change: bool) -> None:
        routing_rule_save(rule=obj, audit=self._audit(request))

    def delete_model(self, request: HttpRequest, obj: RoutingRule) -> None:
        routing_rule_delete(rule=obj, audit=self._audit(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RoutingRule]) -> None:
        for rule in queryset:
            routing_rule_delete(rule=rule, audit=self._audit(request))
