"""Reads of try-outs: a try-out is its owner's alone, and gone once it expires."""

from __future__ import annotations

from typing import Any
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


def tryout_overlay_ready(item: TryOut) -> bool:
    """Whether the try-out has a saliency overlay to show (done, with a map)."""
    return item.status == TryOut.Status.DONE and bool(item.saliency_raw or item.overlay)


def tryout_result(item: TryOut) -> dict[str, Any]:
    """A try-out's state and result, without URLs: the page and the REST API each add their own."""
    return {
        "id": str(item.pk),
        "status": item.status,
        "task": item.task,
        "error": item.error,
        "label": item.label,
        "confidence": item.confidence,
        # Outside the model's scope: no class, and its probabilities are not shown (kept on the row for audit).
        "probabilities": {} if item.out_of_scope else item.probabilities,
        "in_scope": item.in_scope,
        "scope_ratio": item.scope_ratio,
        "uncertainty": item.uncertainty,
        "untrained": item.untrained,
        "models": [m.get("version", "") for m in item.members] or [str(item.model_version or "")],
        "device": item.device,
        "timings": item.timings,
        "created_at": item.created_at,
        "expires_at": item.expires_at,
    }
