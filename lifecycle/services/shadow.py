"""Shadow (champion/challenger) runs on live cases (issue 21, part 2).

A Curator starts a *shadow deployment* of a registered, not active candidate:
from then on each new case of its task, once its clinical prediction is done,
is scored by the candidate too. The candidate's results are
:class:`~lifecycle.models.ShadowPrediction` rows, which no reader-facing query
reads: no case status, no case event, no webhook, no AI summary, no audit
entry in a case's history comes from them. The Curator's shadow page compares
both models against the readers' final labels (``lifecycle.selectors_shadow``).

The worker half (:func:`shadow_predictions_run`, :func:`shadow_sweep`) follows
``inference.pipeline``: claim with a conditional UPDATE, score through the one
scoring path, name files after the row, finish with an UPDATE that skips rows
already DONE.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Subquery
from django.utils import timezone

from cases.models import Case, Image
from cases.services.audit import AuditContext, audit_record
from cases.task_registry import task_get
from inference.decode import serving_array
from inference.models import ModelVersion
from inference.scoring import RESULT_COLUMNS, predictor_for, put, result_columns
from inference.selectors import active_ensemble
from lifecycle.models import ShadowDeployment, ShadowPrediction
from oncocore.registry import BundleError
from oncocore.scoring import Scored, score_batches
from oncoportal import celery_config
from oncoportal.db import rows_update
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed

logger = logging.getLogger(__name__)

RUN_TASK = celery_config.RUN_SHADOW_PREDICTIONS
Status = ShadowPrediction.Status


# --- Start and stop ------------------------------------------------------------
def shadow_start(*, candidate: ModelVersion, audit: AuditContext, note: str = "") -> ShadowDeployment:
    """Run ``candidate`` in shadow on its task's new cases, beside the task's active model.

    Raises:
        InvalidInput: The candidate's task is unknown, or the task has no active model
            (no clinical prediction happens, so there would be nothing to run beside).
        TransitionNotAllowed: The candidate is active or retired, or already runs in shadow.
    """
    candidate = ModelVersion.objects.get(pk=candidate.pk)  # its status now, not the caller's copy
    if candidate.status == ModelVersion.Status.ACTIVE:
        raise TransitionNotAllowed(
            f"{candidate.label} is active: its results already reach the readers; shadow runs are for candidates"
        )
    if candidate.status == ModelVersion.Status.RETIRED:
        raise TransitionNotAllowed(f"{candidate.label} is retired; a shadow run needs a registered candidate")
    if task_get(candidate.task) is None:
        raise InvalidInput(f"{candidate.label} is a model of the unknown task {candidate.task!r}")
    if not active_ensemble(task=candidate.task):
        raise InvalidInput(
            f"{candidate.task} has no active model: a shadow run compares a candidate with the active one"
        )
    try:
        with transaction.atomic():
            deployment = ShadowDeployment.objects.create(
                task=candidate.task, candidate=candidate, note=note.strip(), started_by=audit.actor
            )
            audit_record(
                action="shadow.started",
                obj=deployment,
                audit=audit,
                detail={"task": candidate.task, "candidate": str(candidate), "note": deployment.note},
            )
    except IntegrityError:  # the conditional unique constraint: one running deployment per candidate
        raise TransitionNotAllowed(f"{candidate.label} already runs in shadow") from None
    return deployment


def shadow_stop(*, deployment: ShadowDeployment, audit: AuditContext) -> ShadowDeployment:
    """Stop a shadow deployment: new cases are no longer scored by its candidate. Idempotent.

    Results already queued still finish (they belong to cases that arrived while it ran).
    """
    with transaction.atomic():
        stopped = ShadowDeployment.objects.filter(pk=deployment.pk, stopped_at__isnull=True).update(
            stopped_at=timezone.now(), stopped_by=audit.actor
        )
        deployment.refresh_from_db()
        if stopped:
            audit_record(
                action="shadow.stopped",
                obj=deployment,
                audit=audit,
                detail={"task": deployment.task, "candidate": str(deployment.candidate)},
            )
    return deployment


def shadows_stop_for(*, version: ModelVersion, audit: AuditContext) -> list[ShadowDeployment]:
    """Stop every running shadow deployment of ``version`` (it was promoted or retired); returns those stopped."""
    return [
        shadow_stop(deployment=d, audit=audit)
        for d in ShadowDeployment.objects.filter(candidate=version, stopped_at__isnull=True)
    ]


# --- The hook: a case's clinical prediction is done ------------------------------
def shadow_predictions_queue(*, case_id: int) -> list[int]:
    """Queue the case's images for each running shadow deployment of its task; returns the queued row ids.

    Called once the clinical prediction is done (``prediction.completed``), so
    shadow work never delays readers. Safe to call again: an image a candidate
    already has a row for gets none (the unique (image, model_version)), and a
    row still QUEUED is sent again (the worker's claim takes it once).
    """
    # One query, with the case's task as a subquery: most cases have no shadow to feed (a case that
    # is gone has no task, so none either), and the worker asks this once per finished case.
    deployments = list(
        ShadowDeployment.objects.filter(
            task=Subquery(Case.objects.filter(pk=case_id).values("task")[:1]),
            stopped_at__isnull=True,
            # Promoted or retired meanwhile (through a way that did not stop it): nothing to shadow.
            candidate__status=ModelVersion.Status.REGISTERED,
        ).select_related("candidate")
    )
    if not deployments:
        return []
    image_ids = list(Image.objects.filter(case_id=case_id).order_by("pk").values_list("pk", flat=True))
    with transaction.atomic():
        for deployment in deployments:
            ShadowPrediction.objects.bulk_create(
                [
                    ShadowPrediction(
                        deployment=deployment, image_id=image_id, model_version=deployment.candidate
                    )
                    for image_id in image_ids
                ],
                ignore_conflicts=True,  # a second delivery of the event, or a rerun: the rows are there
            )
        ids = list(
            ShadowPrediction.objects.filter(
                deployment__in=deployments, image_id__in=image_ids, status=Status.QUEUED
            ).values_list("pk", flat=True)
        )
        if ids:
            shadow_send(ids)
    return ids


def shadow_send(ids: Sequence[int]) -> None:
    """Send the run's message after the current transaction commits (robust: the sweeper re-sends a lost one)."""
    ids = list(ids)
    # By name: lifecycle.tasks imports these services, not the other way round.
    transaction.on_commit(lambda: current_app.send_task(RUN_TASK, args=[ids]), robust=True)


# --- The worker's run --------------------------------------------------------------
class TransientShadowError(Exception):
    """Storage or database hiccup: the rows go back to QUEUED and the sweeper sends them again."""


def shadow_predictions_run(*, shadow_prediction_ids: Sequence[int]) -> int:
    """Score the given shadow rows with their candidate; returns how many this call completed. Idempotent.

    Raises:
        TransientShadowError: Storage was unavailable; the unfinished rows are QUEUED again.
    """
    claimed = _claim(shadow_prediction_ids)
    if not claimed:
        return 0
    by_version: dict[int, list[ShadowPrediction]] = defaultdict(list)
    for row in claimed:
        by_version[row.model_version_id].append(row)
    done = 0
    try:
        for rows in by_version.values():
            done += _run_group(rows)
    except Exception as exc:
        still = ShadowPrediction.objects.filter(pk__in=[r.pk for r in claimed], status=Status.RUNNING)
        if isinstance(exc, OSError) and not isinstance(exc, BundleError):
            still.update(status=Status.QUEUED)
            raise TransientShadowError(_one_line(exc)) from exc
        prefix = "candidate unusable: " if isinstance(exc, BundleError) else ""
        still.update(status=Status.FAILED, error=prefix + _one_line(exc), finished_at=timezone.now())
        raise
    return done


def _claim(ids: Sequence[int]) -> list[ShadowPrediction]:
    # As inference.pipeline._claim: one conditional UPDATE decides which rows this call owns.
    now = timezone.now()
    with transaction.atomic():
        ShadowPrediction.objects.filter(pk__in=list(ids), status=Status.QUEUED).update(
            status=Status.RUNNING, started_at=now, attempts=F("attempts") + 1
        )
    return list(
        ShadowPrediction.objects.filter(pk__in=list(ids), status=Status.RUNNING, started_at=now)
        .select_related("image", "model_version")
        .order_by("pk")
    )


_ROW_FIELDS = [*RESULT_COLUMNS, "frame", "finished_at"]


def _run_group(rows: list[ShadowPrediction]) -> int:
    candidate = rows[0].model_version
    members = [candidate]  # the candidate alone: it is judged as it would serve if promoted on its own
    predictor = predictor_for(members)
    spec = predictor.members[0].card.preprocessing
    done = 0
    for batch in score_batches(predictor, rows, lambda r: serving_array(r.image, spec)):
        t0 = time.perf_counter()
        names = {s.key.pk: _store_map(s) for s in batch if s.result is not None}
        files_ms = (time.perf_counter() - t0) * 1e3
        for s in batch:
            if s.error is not None:
                _finish_failed(s.key, _decode_error(s.error))
        done += _save_rows([s for s in batch if s.result is not None], names, members, files_ms)
    return done


def _store_map(scored: Scored[ShadowPrediction]) -> str:
    if not scored.saliency_png or scored.out_of_scope:
        return ""
    # Named after the row, so a second delivery overwrites the same file.
    return put(f"shadow/{scored.key.pk}/cam.png", scored.saliency_png)


def _save_rows(
    batch: Sequence[Scored[ShadowPrediction]],
    names: dict[int, str],
    members: Sequence[ModelVersion],
    files_ms: float,
) -> int:
    """Write a batch's results in one transaction; rows already DONE (a second delivery) are left alone."""
    if not batch:
        return 0
    with transaction.atomic():
        open_rows = set(
            ShadowPrediction.objects.select_for_update()
            .filter(pk__in=[s.key.pk for s in batch])
            .exclude(status=Status.DONE)
            .values_list("pk", flat=True)
        )
        finished = timezone.now()
        rows: dict[int, dict[str, Any]] = {}
        for scored in batch:
            row, result = scored.key, scored.result
            if row.pk not in open_rows or result is None:
                continue
            timings = {
                "queue_wait_ms": (row.started_at - row.created_at).total_seconds() * 1e3
                if row.started_at
                else None,
                "decode_ms": scored.decode_ms,
                **result.timings,
                "save_ms": files_ms / len(batch),
            }
            rows[row.pk] = {
                **result_columns(scored, members=members, saliency_name=names[row.pk], timings=timings),
                "frame": row.image.key_frame,
                "finished_at": finished,
            }
        rows_update(ShadowPrediction, fields=_ROW_FIELDS, rows=rows)
    return len(rows)


def _finish_failed(row: ShadowPrediction, error: str) -> None:
    ShadowPrediction.objects.filter(pk=row.pk).exclude(status=Status.DONE).update(
        status=Status.FAILED, error=error, finished_at=timezone.now()
    )


def _decode_error(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"stored file missing: {exc.filename or exc}"
    return f"cannot decode image: {_one_line(exc)}"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]


# --- The sweeper -----------------------------------------------------------------
def shadow_sweep(*, now: datetime | None = None) -> int:
    """Re-send shadow rows whose message or worker was lost; returns how many were re-sent.

    RUNNING past the task's hard limit (plus grace) means the worker died;
    QUEUED for longer than PREDICTION_REQUEUE_AFTER means the message was lost.
    ``started_at`` marks a re-send, so a row is not re-sent on every sweep.
    """
    now = now or timezone.now()
    stuck_running = now - timedelta(seconds=celery_config.lost_after_s(RUN_TASK))
    stuck_queued = now - timedelta(seconds=settings.PREDICTION_REQUEUE_AFTER)
    with transaction.atomic():
        ids = list(
            ShadowPrediction.objects.select_for_update(skip_locked=True)
            .filter(
                Q(status=Status.RUNNING, started_at__lt=stuck_running)
                | Q(status=Status.QUEUED, started_at__isnull=True, created_at__lt=stuck_queued)
                | Q(status=Status.QUEUED, started_at__lt=stuck_queued)
            )
            .values_list("pk", flat=True)
        )
        if not ids:
            return 0
        ShadowPrediction.objects.filter(pk__in=ids).update(status=Status.QUEUED, started_at=now)
        shadow_send(ids)
    logger.warning("sweeper re-queued %d shadow prediction(s)", len(ids))
    return len(ids)
