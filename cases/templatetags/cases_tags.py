"""Template filters for reading results: readable class names from the task registry."""

from __future__ import annotations

from django import template

from cases.task_registry import task_get

register = template.Library()


@register.filter
def class_label(name: str | None, task: str) -> str:
    """``{{ label|class_label:case.task }}``: the class's readable name (``notumor`` -> "No tumour");
    "non-diagnostic" for an empty label, an unknown class as it is."""
    if not name:
        return "non-diagnostic"
    spec = task_get(task)
    return spec.class_label(name) if spec is not None else name
