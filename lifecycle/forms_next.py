"""The "label these next" queue's filters: a task and a strategy (both pages, GET)."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from cases.task_registry import task_choices
from lifecycle.selectors_next import QueueFilters
from oncocore.active_learning import STRATEGY_LABELS, Strategy


class QueueFilterForm(forms.Form):
    """Task ("" for all) and strategy; an unknown value is reported and the default used."""

    task = forms.ChoiceField(label="Task", required=False)
    strategy = forms.ChoiceField(
        label="Strategy", required=False, choices=[(s.value, STRATEGY_LABELS[s]) for s in Strategy]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["task"]).choices = [
            ("", "Every task"),
            *task_choices(unassigned=False),
        ]

    def filters(self) -> QueueFilters:
        """The valid filters (the defaults when unbound or invalid)."""
        if not self.is_bound or not self.is_valid():
            data = {k: v for k, v in getattr(self, "cleaned_data", {}).items() if k not in self.errors}
        else:
            data = self.cleaned_data
        return QueueFilters(
            task=data.get("task") or "",
            strategy=Strategy(data.get("strategy") or Strategy.COMBINED),
        )
