"""Promote a candidate through the gate, or roll back to an earlier ensemble (issue 21, part 3).

Both switch the task's active ensemble in one transaction, through
``inference.services.ensemble_activate``, and record a :class:`ModelChange`
and an audit event. New cases use the new ensemble at once: a prediction is
requested for the lead active at upload time, and the worker reads the
ensemble from the database for each run (``inference.scoring.ensemble_for``),
loading new weights on first use without a restart.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from django.db import transaction

from cases.services.audit import AuditContext, audit_record
from inference.models import ModelVersion
from inference.selectors import active_ensemble
from inference.services import ensemble_activate
from lifecycle.models import DriftReference, Evaluation, ModelChange, RunStatus
from lifecycle.selectors_evaluations import ensemble_members, evaluation_latest_done, same_members
from lifecycle.selectors_promotion import Members, gate_for
from lifecycle.services.drift import drift_reference_request
from lifecycle.services.shadow import shadows_stop_for
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed

logger = logging.getLogger(__name__)
EVALUATE_FIRST = "evaluate it against the current champion first"


class GateRefused(TransitionNotAllowed):
    """The candidate is worse than the champion beyond a margin; ``gate`` holds the checks."""

    def __init__(self, message: str, *, gate: dict[str, Any]):
        super().__init__(message)
        self.gate = gate


def _lock_task(task: str) -> list[ModelVersion]:
    # Two Curators promoting at once: the second waits here, then sees the first's champion.
    return list(ModelVersion.objects.select_for_update().filter(task=task).order_by("pk"))


def _fair_evaluation(
    *, candidate: ModelVersion, champion: Members, evaluation: Evaluation | None
) -> Evaluation:
    """The evaluation the gate reads: given or newest, finished, of this candidate against this champion."""
    if evaluation is None:
        found = evaluation_latest_done(candidate=candidate, champion_members=champion)
        if found is None:
            newest = evaluation_latest_done(candidate=candidate)
            why = (
                f"evaluation {newest.pk} compared it against another ensemble"
                if newest is not None
                else "it has no finished evaluation"
            )
            raise TransitionNotAllowed(f"{candidate.label}: {why}; {EVALUATE_FIRST}")
        return found
    if evaluation.candidate_id != candidate.pk:
        raise TransitionNotAllowed(f"evaluation {evaluation.pk} is not of {candidate.label}")
    if evaluation.status != RunStatus.DONE:
        raise TransitionNotAllowed(
            f"evaluation {evaluation.pk} is {evaluation.get_status_display().lower()}, not done"
        )
    if not same_members(evaluation.champion_members, champion):
        raise TransitionNotAllowed(
            f"evaluation {evaluation.pk} compared {candidate.label} against another ensemble; {EVALUATE_FIRST}"
        )
    return evaluation


def _gate(*, candidate: ModelVersion, evaluation: Evaluation) -> dict[str, Any]:
    verdict = gate_for(evaluation=evaluation)
    if verdict is None:
        raise TransitionNotAllowed(f"evaluation {evaluation.pk} holds no metrics to judge; {EVALUATE_FIRST}")
    gate = {**verdict.to_dict(), "evaluation": evaluation.pk}
    if not verdict.passed:
        raise GateRefused(f"the gate refused {candidate.label}: {verdict.summary()}", gate=gate)
    return gate


@transaction.atomic
def model_promote(
    *,
    candidate: ModelVersion,
    audit: AuditContext,
    evaluation: Evaluation | None = None,
    reason: str = "",
) -> ModelChange:
    """Make ``candidate`` the task's only active version, if it passes the gate against the champion.

    Needs a finished evaluation of the candidate against the current active
    ensemble (the same members and weights); the newest one is used unless
    ``evaluation`` is given. A task with no active model promotes without a
    gate (the change says so). Stops the candidate's running shadows. Audited
    as ``model.promoted``.

    Raises:
        TransitionNotAllowed: Already the champion, no fair evaluation, or the
            gate refused it (:class:`GateRefused`, with every failing check).
    """
    _lock_task(candidate.task)
    champion = active_ensemble(task=candidate.task)
    before = ensemble_members(champion)
    if [m.pk for m in champion] == [candidate.pk]:
        raise TransitionNotAllowed(f"{candidate.label} is already the champion of {candidate.task}")
    if champion:
        evaluation = _fair_evaluation(candidate=candidate, champion=before, evaluation=evaluation)
        gate = _gate(candidate=candidate, evaluation=evaluation)
    else:
        gate = {"passed": True, "skipped": True, "summary": "no champion: promoted without a gate"}
    ensemble_activate(members=[(candidate, 1.0)], audit=audit)
    candidate.refresh_from_db()
    after = ensemble_members([candidate])
    stopped = len(shadows_stop_for(version=candidate, audit=audit))
    change = ModelChange.objects.create(
        task=candidate.task,
        kind=ModelChange.Kind.PROMOTE,
        version=candidate,
        before=before,
        after=after,
        evaluation=evaluation if champion else None,
        gate=gate,
        reason=reason,
        actor=audit.actor,
    )
    audit_record(
        action="model.promoted",
        obj=candidate,
        audit=audit,
        detail={
            "task": candidate.task,
            "change": change.pk,
            "before": before,
            "after": after,
            "evaluation": change.evaluation_id,
            "gate": gate,
            "shadows_stopped": stopped,
            "reason": reason,
        },
    )
    _drift_reference_for(candidate, audit=audit)
    return change


def _drift_reference_for(version: ModelVersion, *, audit: AuditContext) -> None:
    """The new lead's drift baseline (its validation images), queued if it has none and one can be built."""
    if DriftReference.objects.filter(model_version=version).exists():
        return
    try:
        drift_reference_request(version=version, audit=audit)
    except InvalidInput as exc:  # no validation images known for it: the Drift page says so
        logger.info("no drift reference for %s: %s", version, exc.message)


def _restore(
    *, task: str, target: Members, audit: AuditContext, reason: str, undoes: dict[str, Any]
) -> ModelChange:
    """Make the stored ensemble ``target`` active again; the shared half of both roll-backs."""
    _lock_task(task)
    if not target:
        raise TransitionNotAllowed("there was no active ensemble before that change; nothing to roll back to")
    found = ModelVersion.objects.in_bulk([int(m["version_id"]) for m in target])
    members: list[tuple[ModelVersion, float]] = []
    for m in target:
        version = found.get(int(m["version_id"]))
        if version is None:
            raise TransitionNotAllowed(
                f"{m.get('version', m['version_id'])} no longer exists; cannot roll back"
            )
        if not Path(version.bundle_path).is_dir():
            raise TransitionNotAllowed(f"{version.label}: its bundle folder {version.bundle_path} is gone")
        members.append((version, float(m["weight"])))
    before = ensemble_members(active_ensemble(task=task))
    if same_members(before, target):
        raise TransitionNotAllowed("that ensemble is already the active one")
    ensemble_activate(members=members, audit=audit)
    after = ensemble_members(active_ensemble(task=task))
    lead = ModelVersion.objects.get(pk=after[0]["version_id"])
    gate = {"skipped": True, "summary": "roll-back: no gate (the ensemble was active before)", **undoes}
    change = ModelChange.objects.create(
        task=task,
        kind=ModelChange.Kind.ROLLBACK,
        version=lead,
        before=before,
        after=after,
        gate=gate,
        reason=reason,
        actor=audit.actor,
    )
    audit_record(
        action="model.rolled_back",
        obj=lead,
        audit=audit,
        detail={
            "task": task,
            "change": change.pk,
            "before": before,
            "after": after,
            **undoes,
            "reason": reason,
        },
    )
    _drift_reference_for(lead, audit=audit)
    return change


@transaction.atomic
def model_rollback(*, change: ModelChange, audit: AuditContext, reason: str = "") -> ModelChange:
    """Make the ensemble active before ``change`` active again (its members and weights).

    Any change may be rolled back, not only the newest. Audited as
    ``model.rolled_back``.

    Raises:
        TransitionNotAllowed: The task had no ensemble before the change, a
            member no longer exists or lost its bundle, or that ensemble is
            already the active one.
    """
    return _restore(
        task=change.task,
        target=change.before,
        audit=audit,
        reason=reason,
        undoes={"undoes_change": change.pk},
    )


@transaction.atomic
def model_rollback_to(*, version: ModelVersion, audit: AuditContext, reason: str = "") -> ModelChange:
    """Make an earlier champion the task's only active version again (weight 1), with no gate.

    Raises:
        TransitionNotAllowed: The version was never active, or is already the
            only active one.
    """
    if version.activated_at is None:
        raise TransitionNotAllowed(f"{version.label} was never active; promote it through the gate instead")
    target = [{"version_id": version.pk, "version": str(version), "weight": 1.0}]
    return _restore(
        task=version.task, target=target, audit=audit, reason=reason, undoes={"restores_version": version.pk}
    )
