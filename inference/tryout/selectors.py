"""Reads of try-outs: a try-out is its owner's alone, and gone once it expires."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.utils import timezone

from cases.models import User
from cases.task_registry import task_all
from inference.models import ModelVersion, TryOut


def tryout_list_for_user(*, user: User) -> QuerySet[TryOut]:
    """The user's own try-outs that have not expired, newest first."""
    return TryOut.objects.filter(user=user, expires_at__gt=timezone.now()).select_related("model_version")


def tryout_for_user(*, user: User, tryout_id: UUID | str) -> TryOut:
    """One of the user's own live try-outs; raises TryOut.DoesNotExist otherwise (other users included)."""
    return tryout_list_for_user(user=user).get(pk=tryout_id)


def tryout_task_choices() -> list[tuple[str, str]]:
    """(value, label) of the tasks that have an active model, in the registry's order."""
    active = set(
        ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list("task", flat=True)
    )
    return [(task.key, task.label) for task in task_all() if task.key in active]
