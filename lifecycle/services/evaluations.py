"""Fair comparison: a candidate and the champion scored on the same snapshot split (issue 21, part 1).

:func:`evaluation_request` freezes the task's active ensemble (the champion)
and queues the run; :func:`evaluation_run` (the ``inference`` queue's worker)
scores the split's images with both and stores each side's metrics, McNemar's
paired test and the per-image probabilities in ``Evaluation.results``
(schema: ``oncocore.evaluation.compare``); :func:`evaluations_sweep` re-sends
the runs whose message or worker was lost.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import numpy as np
from celery import current_app
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cases.services.audit import AuditContext, audit_record
from curation.models import Snapshot, Split
from inference.models import ModelVersion
from inference.selectors import active_ensemble
from lifecycle.models import Evaluation, RunStatus
from lifecycle.selectors_evaluations import ensemble_members
from lifecycle.services.evaluation_scoring import fairness, frozen_members, one_line, score_side, split_items
from oncocore.evaluation.compare import compare_results
from oncoportal import celery_config
from oncoportal.exceptions import InvalidInput

logger = logging.getLogger(__name__)

RUN_TASK = celery_config.RUN_EVALUATION


def evaluation_send(evaluation_id: int) -> None:
    """Queue the run after the current transaction commits; with the broker down the sweeper sends it later."""
    # By name: lifecycle.tasks imports this module, not the other way round.
    transaction.on_commit(lambda: current_app.send_task(RUN_TASK, args=[evaluation_id]), robust=True)


def default_snapshot(candidate: ModelVersion) -> Snapshot | None:
    """The snapshot the candidate's training job used, else the task's newest snapshot."""
    try:
        snapshot: Snapshot = candidate.training_job.snapshot
        return snapshot
    except ObjectDoesNotExist:
        return Snapshot.objects.filter(task=candidate.task).order_by("-version", "-pk").first()


def evaluation_request(
    *, candidate: ModelVersion, snapshot: Snapshot | None = None, split: str = Split.TEST, audit: AuditContext
) -> Evaluation:
    """Queue a comparison of ``candidate`` with the task's active ensemble on a snapshot split.

    The champion is frozen now (a later promotion does not change what this
    evaluation compares). A champion whose classes differ from the snapshot's
    cannot be scored on the same terms: the evaluation then has no champion
    and says why.

    Raises:
        InvalidInput: No snapshot, a snapshot of another task or with other
            classes, an unknown or empty split, or a candidate that is part of
            the active ensemble.
    """
    snapshot = snapshot or default_snapshot(candidate)
    if snapshot is None:
        raise InvalidInput(f"there is no snapshot of {candidate.task} to evaluate {candidate.label} on")
    if snapshot.task != candidate.task:
        raise InvalidInput(
            f"{candidate.label} is a {candidate.task} model; snapshot {snapshot.name} is {snapshot.task}"
        )
    if sorted(candidate.class_names) != sorted(snapshot.class_names):
        raise InvalidInput(
            f"{candidate.label} has the classes {', '.join(candidate.class_names)}; snapshot "
            f"{snapshot.name} has {', '.join(snapshot.class_names)}"
        )
    if split not in Split.values:
        raise InvalidInput(f"unknown split {split!r}; one of {', '.join(Split.values)}")
    if not snapshot.items.filter(split=split).exists():
        raise InvalidInput(f"snapshot {snapshot.name} has no {split} images")
    champion = active_ensemble(task=candidate.task)
    if any(m.pk == candidate.pk for m in champion):
        raise InvalidInput(
            f"{candidate.label} is already active for {candidate.task} (part of the champion): "
            "there is nothing to compare it with"
        )
    note = ""
    if champion and any(sorted(m.class_names) != sorted(snapshot.class_names) for m in champion):
        note = (
            f"The active model ({' + '.join(map(str, champion))}) has other classes than snapshot "
            f"{snapshot.name}: it cannot be scored on the same terms, so only the candidate is evaluated."
        )
        champion = []
    with transaction.atomic():
        evaluation = Evaluation.objects.create(
            task=candidate.task,
            snapshot=snapshot,
            split=split,
            candidate=candidate,
            champion=champion[0] if champion else None,
            champion_members=ensemble_members(champion),
            created_by=audit.actor,
            results={"notes": [note]} if note else {},
        )
        audit_record(
            action="evaluation.requested",
            obj=evaluation,
            audit=audit,
            detail={
                "candidate": str(candidate),
                "champion": [str(m) for m in champion],
                "snapshot": snapshot.name,
                "split": split,
                **({"note": note} if note else {}),
            },
        )
        evaluation_send(evaluation.pk)
    return evaluation


def evaluation_run(*, evaluation_id: int) -> str:
    """Score the split with the candidate and the frozen champion and store the results; returns the status.

    Safe to deliver twice: only a QUEUED evaluation is claimed (one
    conditional UPDATE), and the results are written only while it is still
    the run this call claimed. Any error ends it FAILED with a one-line reason.
    """
    now = timezone.now()
    claimed = Evaluation.objects.filter(pk=evaluation_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, error=""
    )
    if not claimed:
        current = Evaluation.objects.filter(pk=evaluation_id).values_list("status", flat=True).first()
        return str(current or "missing")
    evaluation = Evaluation.objects.select_related("snapshot", "candidate").get(pk=evaluation_id)
    mine = Evaluation.objects.filter(pk=evaluation_id, status=RunStatus.RUNNING, started_at=now)
    try:
        results = _score(evaluation)
    except Exception as exc:
        logger.exception("evaluation %s failed", evaluation_id)
        mine.update(status=RunStatus.FAILED, error=one_line(exc), finished_at=timezone.now())
        return RunStatus.FAILED
    mine.update(status=RunStatus.DONE, results=results, finished_at=timezone.now())
    return RunStatus.DONE


def _score(evaluation: Evaluation) -> dict[str, object]:
    snapshot, candidate = evaluation.snapshot, evaluation.candidate
    class_names = list(snapshot.class_names)
    items = [item for item in split_items(snapshot, evaluation.split) if item.label in class_names]
    if not items:
        raise ValueError(f"snapshot {snapshot.name} has no labelled {evaluation.split} images")
    champion = frozen_members(evaluation.champion_members) if evaluation.champion_members else []
    # The candidate first, the champion last: the worker's cache is left holding the live ensemble.
    scores = {"candidate": score_side([candidate], items, class_names)}
    if champion:
        scores["champion"] = score_side(champion, items, class_names)
    errors: dict[int, str] = {}
    for side in scores.values():
        errors.update(side.errors)
    kept = [item for item in items if item.image_id not in errors]
    if not kept:
        raise ValueError(
            f"none of the {len(items)} images could be decoded (e.g. {next(iter(errors.values()))})"
        )
    results = compare_results(
        class_names=class_names,
        image_ids=[item.image_id for item in kept],
        targets=[item.label for item in kept],
        candidate_probs=np.array([scores["candidate"].probs[item.image_id] for item in kept]),
        candidate_label=str(candidate),
        champion_probs=np.array([scores["champion"].probs[item.image_id] for item in kept])
        if champion
        else None,
        champion_label=" + ".join(str(m) for m in champion),
        split=evaluation.split,
    )
    for name, side in scores.items():
        results["sides"][name]["out_of_scope"] = side.out_of_scope
    results["skipped"] = [{"image_id": pk, "error": error} for pk, error in sorted(errors.items())]
    results["fairness"] = fairness(items=kept, candidate=candidate, champion=champion, split=evaluation.split)
    results["notes"] = list(evaluation.results.get("notes", [])) + results["fairness"]["notes"]
    return results


def evaluations_sweep(*, now: datetime | None = None) -> int:
    """Re-send evaluations whose message or worker was lost; returns how many.

    RUNNING for longer than the task's hard limit (plus grace) lost its
    worker: it goes back to QUEUED. QUEUED and not sent for
    PREDICTION_REQUEUE_AFTER: the message may be lost. ``started_at`` of a
    queued evaluation marks its last re-send, so one is re-sent once per
    period, not on every sweep; a duplicate costs nothing (the claim skips it).
    """
    now = now or timezone.now()
    lost = now - timedelta(seconds=celery_config.lost_after_s(RUN_TASK))
    unsent = now - timedelta(seconds=settings.PREDICTION_REQUEUE_AFTER)
    with transaction.atomic():
        ids = list(
            Evaluation.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=RunStatus.RUNNING, started_at__lt=lost)
                | Q(status=RunStatus.QUEUED, started_at__isnull=True, created_at__lt=unsent)
                | Q(status=RunStatus.QUEUED, started_at__lt=unsent)
            )
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        Evaluation.objects.filter(pk__in=ids).update(status=RunStatus.QUEUED, started_at=now)
        for pk in ids:
            evaluation_send(pk)
    logger.warning("sweeper re-sent %d evaluation(s)", len(ids))
    return len(ids)
