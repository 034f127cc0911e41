"""The analytics page's filters: task, model version, date range (default: the last 12 weeks)."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.http import QueryDict

from cases.models import User
from cases.task_registry import task_choices
from lifecycle.selectors_analytics import (
    AnalyticsFilters,
    analytics_default_task,
    analytics_model_versions,
)

#: The longest range one page reads (two years), so one request stays bounded.
MAX_DAYS = 731


class AnalyticsFilterForm(forms.Form):
    """Always bound: a field left out of the query takes its default."""

    task = forms.ChoiceField(label="Task")
    model_version = forms.ChoiceField(label="Model version", required=False)
    date_from = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="to", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, query: QueryDict, *, user: User) -> None:
        tasks = task_choices(unassigned=False)
        data: dict[str, Any] = {
            key: query.get(key, "") for key in ("task", "model_version", "date_from", "date_to")
        }
        if not data["task"]:
            data["task"] = analytics_default_task(user=user) or (tasks[0][0] if tasks else "")
        defaults = AnalyticsFilters.last_weeks(task=data["task"])
        data["date_from"] = data["date_from"] or defaults.date_from.isoformat()
        data["date_to"] = data["date_to"] or defaults.date_to.isoformat()
        super().__init__(data)
        cast(forms.ChoiceField, self.fields["task"]).choices = tasks
        versions = analytics_model_versions(user=user, task=data["task"])
        cast(forms.ChoiceField, self.fields["model_version"]).choices = [
            ("", "Every model version"),
            *((v, v) for v in versions),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if start > end:
                raise forms.ValidationError("The range starts after it ends.")
            if (end - start).days > MAX_DAYS:
                raise forms.ValidationError(f"Choose a range of at most {MAX_DAYS} days.")
        return data

    def filters(self) -> AnalyticsFilters:
        """The filters of a valid form."""
        data = self.cleaned_data
        return AnalyticsFilters(
            task=data["task"],
            model_version=data.get("model_version") or "",
            date_from=data["date_from"],
            date_to=data["date_to"],
        )
