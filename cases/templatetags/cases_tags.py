"""Template filters for reading results: readable class names from the task registry."""

from __future__ import annotations

import math
from datetime import timedelta

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


@register.filter
def minutes(value: timedelta | None) -> int:
    """Whole minutes of a duration, rounded up (a lock of 14 min 30 s reads 15 minutes)."""
    if value is None:
        return 0
    return max(0, math.ceil(value.total_seconds() / 60))
