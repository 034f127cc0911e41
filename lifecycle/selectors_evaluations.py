"""Reads of evaluations: the list, the newest finished one of a candidate (the promote gate's), progress."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.core.cache import cache
from django.db.models import QuerySet

from curation.models import Snapshot
from inference.models import ModelVersion
from lifecycle.models import Evaluation, RunStatus
from oncocore.evaluation.compare import paired_verdict
from oncocore.evaluation.figures import all_svgs

#: Member weights equal within this are the same ensemble (they are floats from a form).
WEIGHT_TOLERANCE = 1e-9
FIGURE_CACHE_S = 7 * 24 * 3600  # a finished evaluation never changes


def evaluation_list() -> QuerySet[Evaluation]:
    """All evaluations, newest first, with what the list shows."""
    return Evaluation.objects.select_related("snapshot", "candidate", "champion", "created_by")


def _members_key(members: Sequence[dict[str, Any] | ModelVersion]) -> list[tuple[int, float]]:
    out = []
    for m in members:
        if isinstance(m, ModelVersion):
            out.append((int(m.pk), float(m.weight)))
        else:
            out.append((int(m["version_id"]), float(m["weight"])))
    return sorted(out)


def ensemble_members(versions: Sequence[ModelVersion]) -> list[dict[str, Any]]:
    """An ensemble as evaluations and model changes store it: {version_id, version, weight}, lead first."""
    return [{"version_id": v.pk, "version": str(v), "weight": float(v.weight)} for v in versions]


def same_members(
    a: Sequence[dict[str, Any] | ModelVersion], b: Sequence[dict[str, Any] | ModelVersion]
) -> bool:
    """Whether two ensembles have the same versions with the same weights (order aside)."""
    ka, kb = _members_key(a), _members_key(b)
    return len(ka) == len(kb) and all(
        x[0] == y[0] and abs(x[1] - y[1]) <= WEIGHT_TOLERANCE for x, y in zip(ka, kb, strict=True)
    )


def evaluation_latest_done(
    *, candidate: ModelVersion, champion_members: Sequence[dict[str, Any] | ModelVersion] | None = None
) -> Evaluation | None:
    """The newest DONE evaluation of ``candidate``; with ``champion_members``, only one against exactly that ensemble.

    ``champion_members`` is an ensemble as ``Evaluation.champion_members``
    stores it ({version_id, version, weight}, e.g. ``ensemble_members(active_ensemble(task=...))``)
    or the ModelVersion rows themselves (their current weights); an empty
    list matches an evaluation made when the task had no champion.
    """
    done = Evaluation.objects.filter(candidate=candidate, status=RunStatus.DONE).order_by(
        "-finished_at", "-pk"
    )
    if champion_members is None:
        return done.select_related("snapshot", "candidate", "champion").first()
    for evaluation in done.select_related("snapshot", "candidate", "champion").iterator():
        if same_members(evaluation.champion_members, champion_members):
            return evaluation
    return None


def evaluation_progress(evaluation: Evaluation) -> dict[str, Any]:
    """What the detail page polls while an evaluation is queued or running."""
    finished = evaluation.status in (RunStatus.DONE, RunStatus.FAILED)
    return {
        "id": evaluation.pk,
        "status": evaluation.status,
        "status_display": evaluation.get_status_display(),
        "finished": finished,
        "error": evaluation.error,
        "n": evaluation.results.get("n") if evaluation.status == RunStatus.DONE else None,
        "started_at": evaluation.started_at.isoformat() if evaluation.started_at else None,
        "finished_at": evaluation.finished_at.isoformat() if evaluation.finished_at else None,
        "verdict": paired_verdict(evaluation.results.get("paired"))
        if evaluation.status == RunStatus.DONE
        else None,
    }


def candidate_choices() -> QuerySet[ModelVersion]:
    """Versions that may be evaluated: every version not active now (registered or retired)."""
    return ModelVersion.objects.exclude(status=ModelVersion.Status.ACTIVE).order_by("task", "-created_at")


def snapshot_choices() -> QuerySet[Snapshot]:
    return Snapshot.objects.order_by("task", "-version")


def evaluation_figures(evaluation: Evaluation) -> dict[str, str]:
    """The detail page's SVG figures (confusion, roc, reliability); cached per finished evaluation."""
    if evaluation.status != RunStatus.DONE or not evaluation.results.get("items"):
        return {}
    stamp = evaluation.finished_at.isoformat() if evaluation.finished_at else ""
    key = f"lifecycle:evaluation-figures:{evaluation.pk}:{stamp}"
    figures = cache.get(key)
    if figures is None:
        figures = all_svgs(evaluation.results)
        cache.set(key, figures, FIGURE_CACHE_S)
    return dict(figures)
