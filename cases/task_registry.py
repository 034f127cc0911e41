"""Reading the task registry: the built-in tasks (``oncocore.tasks``) plus those added as data.

Everything in cases and inference that needs a task's label, classes,
positive findings, presets or header keywords asks here, so a task declared
by a hospital's model card works everywhere a built-in one does.
"""

from __future__ import annotations

from django.core.cache import cache
from django.core.exceptions import ValidationError

from cases.models.task import TaskDefinition
from oncocore.tasks import (
    BUILTIN_TASKS,
    UNASSIGNED,
    UNASSIGNED_LABEL,
    TaskSpec,
    builtin_task,
    ct_presets,
)

# The declared tasks are read on every page that lists tasks or labels a case,
# so they are cached: the worklist's query count stays what it was. The
# registering process forgets them at once; in others (with a per-process
# cache) a new task joins the menus within CACHE_SECONDS (at once with a shared
# cache such as Redis), while a lookup by key (task_get) that misses reads the
# table again, so a worker never scores a new task's case as unknown.
CACHE_KEY = "cases.task_registry.declared"
CACHE_SECONDS = 60


def _declared(*, fresh: bool = False) -> list[TaskSpec]:
    rows = None if fresh else cache.get(CACHE_KEY)
    if rows is None:
        rows = list(TaskDefinition.objects.order_by("key").values_list("key", "classes", "definition"))
        cache.set(CACHE_KEY, rows, CACHE_SECONDS)
    return [TaskSpec.from_declaration(key=k, classes=c, declared=d) for k, c, d in rows]


def task_registry_forget() -> None:
    """Drop the cached declared tasks (after one is added)."""
    cache.delete(CACHE_KEY)


def task_all() -> list[TaskSpec]:
    """Every task a case can have (Unassigned aside): the built-ins, then the declared ones by key."""
    return [*BUILTIN_TASKS, *_declared()]


def task_get(key: str) -> TaskSpec | None:
    """The task of this key; None for Unassigned and for unknown keys."""
    spec = builtin_task(key)
    if spec is not None or key == UNASSIGNED:
        return spec
    found = next((t for t in _declared() if t.key == key), None)
    if found is None:  # perhaps declared since the cache was filled: read the table
        found = next((t for t in _declared(fresh=True) if t.key == key), None)
    return found


def task_keys(*, unassigned: bool = False) -> list[str]:
    """The keys of every task, in registry order (with ``unassigned`` last when asked)."""
    keys = [t.key for t in task_all()]
    return [*keys, UNASSIGNED] if unassigned else keys


def task_choices(*, unassigned: bool = True) -> list[tuple[str, str]]:
    """``(key, label)`` pairs for forms (Unassigned last when asked)."""
    choices = [(t.key, t.label) for t in task_all()]
    return [*choices, (UNASSIGNED, UNASSIGNED_LABEL)] if unassigned else choices


def task_label(key: str) -> str:
    """What people read for a task key (an unknown key is shown as it is)."""
    if key == UNASSIGNED:
        return UNASSIGNED_LABEL
    spec = task_get(key)
    return spec.label if spec is not None else key


def task_classes(key: str) -> list[str]:
    """The classes readers may choose for a task (none for Unassigned or an unknown key)."""
    spec = task_get(key)
    return list(spec.classes) if spec is not None else []


def is_positive_finding(task: str, label: str) -> bool:
    """True when ``label`` is one of the findings of ``task`` a reader should see first."""
    spec = task_get(task)
    return spec is not None and spec.is_positive(label)


def task_infer_from_image(*, data: bytes, dicom: bool) -> str:
    """The task an image looks like, by the models' own checks (``cases.signals.task_from_image``); else Unassigned."""
    from cases.signals import task_from_image

    for _receiver, key in task_from_image.send(sender=TaskDefinition, data=data, dicom=dicom):
        if isinstance(key, str) and key and task_get(key) is not None:
            return key
    return UNASSIGNED


def task_window_presets(key: str, *, modality: str) -> list[dict[str, object]]:
    """The viewer's window presets for an image of this modality in a case of this task.

    The CT presets on CT only, then the task's own on its modality (:meth:`TaskSpec.viewer_presets`).
    """
    spec = task_get(key)
    return spec.viewer_presets(modality) if spec is not None else ct_presets(modality)


def validate_case_task(value: str) -> None:
    """Field validator: a known task or Unassigned."""
    if value != UNASSIGNED and task_get(value) is None:
        raise ValidationError(
            f"Unknown task {value!r}; choose one of {', '.join(task_keys(unassigned=True))}."
        )


def validate_model_task(value: str) -> None:
    """Field validator: a known task (Unassigned is not a task a model or policy can serve)."""
    if task_get(value) is None:
        raise ValidationError(f"Unknown task {value!r}; choose one of {', '.join(task_keys())}.")
