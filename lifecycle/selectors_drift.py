"""Drift watch reads: each task's recent predictions per ISO week, measured against its lead's reference.

Recent means the finished (DONE) predictions of the task's active lead over
the last ``settings.DRIFT_WEEKS`` ISO weeks, this one included. The status of
a task is that pooled window against the lead's :class:`DriftReference`
(``oncocore.drift.compare``); each week is also measured on its own, for the
page's PSI-per-week chart. The Curator pages' banner reads the statuses
through :func:`drift_status`, cached for ``settings.DRIFT_CACHE_SECONDS``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from cases.task_registry import task_label
from inference.models import ModelVersion, Prediction
from inference.selectors import active_ensemble
from lifecycle.models import DriftReference
from oncocore.drift import DriftReport, Observation, compare, summarize, summary_edges

#: The status the banner on every Curator page warns about ("watch" shows on the Drift tab only:
#: with nine measures, about one window in twelve drawn from the validation set itself reads watch).
WARN_STATUSES = ("drift",)
#: The cached statuses (:func:`drift_status`).
STATUS_CACHE_KEY = "lifecycle:drift-status"


def drift_cache_clear() -> None:
    """Forget the cached statuses, so the pages show a new reference at once."""
    cache.delete(STATUS_CACHE_KEY)


@dataclass
class WeekDrift:
    """One ISO week of a task's recent predictions against the reference."""

    week: str  # "2026-W48"
    monday: date
    summary: dict[str, Any]
    report: DriftReport


@dataclass
class TaskDrift:
    """A task's drift watch: its lead, reference, pooled recent window and weeks.

    ``status``: ok, watch or drift (measured); too_few (fewer recent images
    than the minimum); no_reference (the lead has none yet).
    """

    task: str
    label: str
    lead: ModelVersion
    members: list[ModelVersion]
    reference: DriftReference | None
    status: str
    n: int
    summary: dict[str, Any] | None = None
    report: DriftReport | None = None
    weeks: list[WeekDrift] = field(default_factory=list)

    @property
    def ensemble_changed(self) -> bool:
        """The reference was scored by another ensemble than the one active now."""
        if self.reference is None:
            return False
        built = [m["version_id"] for m in self.reference.stats.get("members", [])]
        return built != [m.pk for m in self.members]


def iso_weeks(*, weeks: int, now: datetime | None = None) -> list[date]:
    """The Mondays of the last ``weeks`` ISO weeks, oldest first, this week last (local time)."""
    today = timezone.localtime(now or timezone.now()).date()
    this_monday = today - timedelta(days=today.weekday())
    return [this_monday - timedelta(weeks=k) for k in range(weeks - 1, -1, -1)]


def week_key(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def recent_observations(
    *, lead: ModelVersion, weeks: int, now: datetime | None = None
) -> dict[str, list[Observation]]:
    """The lead's finished predictions of the last ``weeks`` ISO weeks, per week key (oldest first); one query."""
    mondays = iso_weeks(weeks=weeks, now=now)
    start = timezone.make_aware(datetime.combine(mondays[0], time.min))
    by_week: dict[str, list[Observation]] = {week_key(m): [] for m in mondays}
    rows = (
        Prediction.objects.filter(model_version=lead, status=Prediction.Status.DONE, finished_at__gte=start)
        .order_by()
        .values_list("finished_at", "label", "confidence", "in_scope", "input_stats")
    )
    for finished_at, label, confidence, in_scope, stats in rows.iterator(chunk_size=2000):
        key = week_key(timezone.localtime(finished_at).date())
        if key in by_week:  # a clock ahead of ours could put one in next week
            by_week[key].append(Observation(label, confidence, in_scope, stats))
    return by_week


def task_drift(*, task: str, weeks: int | None = None, now: datetime | None = None) -> TaskDrift | None:
    """The task's drift watch (None when it has no active model)."""
    members = active_ensemble(task=task)
    if not members:
        return None
    lead = members[0]
    weeks = weeks or settings.DRIFT_WEEKS
    reference = DriftReference.objects.filter(model_version=lead).first()
    by_week = recent_observations(lead=lead, weeks=weeks, now=now)
    n = sum(len(obs) for obs in by_week.values())
    drift = TaskDrift(task, task_label(task), lead, members, reference, "no_reference", n)
    if reference is None:
        return drift
    ref = reference.stats
    edges, classes = summary_edges(ref), list(ref["classes"]["names"])
    pooled = [o for obs in by_week.values() for o in obs]
    drift.summary = summarize(pooled, class_names=classes, edges=edges)
    drift.report = compare(ref, drift.summary)
    drift.status = drift.report.status
    for monday in iso_weeks(weeks=weeks, now=now):
        key = week_key(monday)
        summary = summarize(by_week[key], class_names=classes, edges=edges)
        drift.weeks.append(WeekDrift(key, monday, summary, compare(ref, summary)))
    return drift


def drift_overview(*, weeks: int | None = None, now: datetime | None = None) -> list[TaskDrift]:
    """Every task with an active model, in task order: its drift watch."""
    tasks = sorted(
        set(ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).values_list("task", flat=True))
    )
    found = (task_drift(task=task, weeks=weeks, now=now) for task in tasks)
    return [d for d in found if d is not None]


def drift_status(*, overview: list[TaskDrift] | None = None) -> list[dict[str, Any]]:
    """Each watched task's status and the measures that moved, cached for DRIFT_CACHE_SECONDS (the banner).

    Given an ``overview`` just computed (the Drift page), its statuses replace the cached ones.
    """
    if overview is None:
        cached = cache.get(STATUS_CACHE_KEY)
        if cached is not None:
            return list(cached)
        overview = drift_overview()
    status = [
        {
            "task": d.task,
            "label": d.label,
            "status": d.status,
            "n": d.n,
            "moved": [m.label for m in d.report.flagged if m.status == "drift"] if d.report else [],
        }
        for d in overview
    ]
    if settings.DRIFT_CACHE_SECONDS:
        cache.set(STATUS_CACHE_KEY, status, settings.DRIFT_CACHE_SECONDS)
    return status


def drift_warnings() -> list[dict[str, Any]]:
    """The tasks whose recent cases drifted (the banner), in task order."""
    return [s for s in drift_status() if s["status"] in WARN_STATUSES]


def weekly_psi(drift: TaskDrift) -> dict[str, list[float | None]]:
    """PSI per measure and week (None: too few images that week), for the chart."""
    series: dict[str, list[float | None]] = defaultdict(list)
    for week in drift.weeks:
        for m in week.report.measures:
            if m.kind == "psi":
                series[m.name].append(m.value)
    return dict(series)
