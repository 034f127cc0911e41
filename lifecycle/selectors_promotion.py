"""Reads of the promote / roll-back part: the champion as stored members, evaluations, changes, the overview."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from cases.task_registry import task_get, task_label
from inference.models import ModelVersion
from inference.selectors import active_ensemble
from lifecycle.models import Evaluation, ModelChange, ShadowDeployment
from lifecycle.selectors_evaluations import ensemble_members, evaluation_latest_done
from oncocore.lifecycle_gate import GateVerdict, gate_judge

Members = list[dict[str, Any]]


def champion_members(*, task: str) -> Members:
    """The task's active ensemble now, as stored members (empty when the task has no active model)."""
    return ensemble_members(active_ensemble(task=task))


def evaluation_sides(evaluation: Evaluation) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The (champion, candidate) metrics of a finished evaluation; None when its results lack them."""
    sides = (evaluation.results or {}).get("sides")
    if not isinstance(sides, dict):
        return None
    champion = (sides.get("champion") or {}).get("metrics")
    candidate = (sides.get("candidate") or {}).get("metrics")
    if not isinstance(champion, dict) or not isinstance(candidate, dict):
        return None
    return champion, candidate


def gate_for(*, evaluation: Evaluation) -> GateVerdict | None:
    """The gate's verdict on an evaluation (the settings' margins); None when it has no metrics to judge."""
    sides = evaluation_sides(evaluation)
    if sides is None:
        return None
    champion, candidate = sides
    spec = task_get(evaluation.task)
    return gate_judge(
        champion=champion,
        candidate=candidate,
        positive_classes=spec.positive_classes if spec is not None else (),
        margin_macro_f1=settings.PROMOTE_MARGIN_MACRO_F1,
        margin_sensitivity=settings.PROMOTE_MARGIN_SENSITIVITY,
        class_labels={c: spec.class_label(c) for c in spec.classes} if spec is not None else {},
    )


def change_list(*, task: str | None = None) -> QuerySet[ModelChange]:
    """Promotions and roll-backs, newest first (one task's when asked)."""
    rows = ModelChange.objects.select_related("version", "actor", "evaluation")
    return rows.filter(task=task) if task else rows


def change_newest(*, task: str) -> ModelChange | None:
    return change_list(task=task).first()


@dataclass
class CandidateRow:
    version: ModelVersion
    evaluation: Evaluation | None  # newest finished one against the current champion
    stale: Evaluation | None  # newest finished one, when it compared another champion
    verdict: GateVerdict | None
    shadow: ShadowDeployment | None


@dataclass
class TaskOverview:
    task: str
    label: str
    champion: list[ModelVersion]
    since: datetime | None
    candidates: list[CandidateRow] = field(default_factory=list)
    earlier: list[ModelVersion] = field(default_factory=list)
    changes: list[ModelChange] = field(default_factory=list)


HISTORY_LIMIT = 50


def models_overview() -> list[TaskOverview]:
    """Per task with a registered version: champion, candidates with their gate verdict, earlier versions, changes."""
    versions = list(ModelVersion.objects.order_by("task", "-created_at", "-pk"))
    running = {
        s.candidate_id: s for s in ShadowDeployment.objects.filter(stopped_at__isnull=True)
    }  # a handful of rows: one per running shadow
    out: list[TaskOverview] = []
    for task in sorted({v.task for v in versions}):
        champion = active_ensemble(task=task)
        now = ensemble_members(champion)
        changes = list(change_list(task=task)[:HISTORY_LIMIT])
        since = (
            changes[0].created_at
            if changes
            else max((v.activated_at for v in champion if v.activated_at), default=None)
        )
        overview = TaskOverview(
            task=task, label=task_label(task), champion=champion, since=since, changes=changes
        )
        for v in versions:
            if v.task != task or v.status == ModelVersion.Status.ACTIVE:
                continue
            if v.status == ModelVersion.Status.REGISTERED:
                fair = evaluation_latest_done(candidate=v, champion_members=now)
                newest = fair or evaluation_latest_done(candidate=v)
                overview.candidates.append(
                    CandidateRow(
                        version=v,
                        evaluation=fair,
                        stale=newest if fair is None else None,
                        verdict=gate_for(evaluation=fair) if fair is not None else None,
                        shadow=running.get(v.pk),
                    )
                )
            elif v.activated_at is not None:  # retired, once active: a roll-back target
                overview.earlier.append(v)
        out.append(overview)
    return out
