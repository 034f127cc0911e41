"""Recovery: the sweeper that finds work lost by a broker, a killed worker or a failed after-commit handler.

Two units of recovery:

* a **prediction** row QUEUED too long (its message was lost) or RUNNING under
  a dead worker (stale heartbeat, or a pid gone on this host: inference.claims)
  is put back to QUEUED and sent again;
* a case "queued" or "predicting" whose predictions all ended (its worker
  died between saving them and refreshing the case) gets its status refreshed;
* a **case** still "received" whose images have no prediction for the active
  model of its task (the intake's ``images_ingested`` handler, run after commit
  and swallowed with ``robust=True``, failed: a locked SQLite database, a
  crash between commit and handler) gets its rows created and sent, as the
  handler would have.

Both are idempotent against the normal path running at the same time: rows
are created with the (image, model version) unique constraint deciding
(``ignore_conflicts``), and the claim (a conditional UPDATE) decides who runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from cases.models import Case, CaseStatus, Image, Site, User
from cases.services.lifecycle import case_set_status
from inference.case_status import cases_refresh_status
from inference.claims import worker_gone
from inference.models import ModelVersion, Prediction
from inference.selectors import active_ensemble
from oncoportal import celery_config

logger = logging.getLogger(__name__)

RUN_TASK = celery_config.RUN_PREDICTIONS


def predictions_create_missing(
    *, case: Case, lead: ModelVersion, requested_by: User | None = None
) -> list[Prediction]:
    """Create a QUEUED prediction of ``lead`` for each image of the case that has none; returns the new rows.

    Safe against a concurrent caller: the unique constraint (image, model
    version) decides, and a row another caller created is not returned (one
    INSERT for all; one a row after a conflict).
    Sends nothing: the caller does, after commit.
    """
    missing = list(case.images.exclude(predictions__model_version=lead).values_list("pk", flat=True))

    def row(image_id: int) -> Prediction:
        return Prediction(
            image_id=image_id, model_version=lead, requested_by=requested_by, untrained=lead.untrained
        )

    try:
        with transaction.atomic():  # a savepoint: a conflict leaves the caller's transaction usable
            return Prediction.objects.bulk_create([row(pk) for pk in missing])
    except IntegrityError:
        pass
    # Another caller inserted some of these rows meanwhile: one at a time, each keeping what it finds.
    created = []
    for pk in missing:
        try:
            with transaction.atomic():
                created.append(row(pk))
                created[-1].save(force_insert=True)
        except IntegrityError:
            created.pop()
    return created


def cases_without_predictions(*, now: datetime | None = None) -> list[Case]:
    """Received cases older than ``PREDICTION_CASE_SWEEP_AFTER`` with an image no prediction row points at.

    The base data (labelled already, imported without announcing) is left out.
    """
    now = now or timezone.now()
    old = now - timedelta(seconds=settings.PREDICTION_CASE_SWEEP_AFTER)
    unscored = Image.objects.filter(case=OuterRef("pk")).exclude(
        Exists(Prediction.objects.filter(image=OuterRef("pk")))
    )
    base_sites = Site.objects.filter(code=settings.BASE_DATA_SITE).values("pk")
    return list(
        Case.objects.filter(status=CaseStatus.RECEIVED, created_at__lt=old)
        .exclude(site__in=base_sites)
        .filter(Exists(unscored))
        .order_by("pk")
    )


def cases_sweep(*, now: datetime | None = None) -> int:
    """Queue the cases whose queueing was lost (:func:`cases_without_predictions`); returns how many rows were sent.

    A case whose task has no active model is left as it is (nothing would run it).
    """
    sent = 0
    for case in cases_without_predictions(now=now):
        members = active_ensemble(task=case.task)
        if not members:
            continue
        with transaction.atomic():
            created = predictions_create_missing(case=case, lead=members[0])
            if not created:
                continue
            case_set_status(case_id=case.pk, status=CaseStatus.QUEUED)
            ids = [p.pk for p in created]
            transaction.on_commit(lambda ids=ids: _send(ids), robust=True)  # type: ignore[misc]
        logger.warning("sweeper queued case %s: its %d image(s) had no prediction", case.pk, len(ids))
        sent += len(ids)
    return sent


def cases_sweep_settled(*, now: datetime | None = None) -> list[int]:
    """Refresh the status of queued or predicting cases whose predictions all ended; returns their ids.

    A worker killed after it saved a batch but before it refreshed the case
    leaves the case "predicting" with nothing left to run, so no run would
    ever move it on. Only cases unchanged for ``PREDICTION_CASE_SWEEP_AFTER``.
    """
    now = now or timezone.now()
    old = now - timedelta(seconds=settings.PREDICTION_CASE_SWEEP_AFTER)
    open_work = Prediction.objects.filter(
        image__case=OuterRef("pk"), status__in=[Prediction.Status.QUEUED, Prediction.Status.RUNNING]
    )
    ended = Prediction.objects.filter(image__case=OuterRef("pk"))
    case_ids = list(
        Case.objects.filter(status__in=[CaseStatus.QUEUED, CaseStatus.PREDICTING], status_changed_at__lt=old)
        .filter(Exists(ended))
        .exclude(Exists(open_work))
        .values_list("pk", flat=True)
    )
    if case_ids:
        with transaction.atomic():
            moved = cases_refresh_status(case_ids=case_ids)
        logger.warning("sweeper settled %d case(s) left %s", len(moved), "queued or predicting")
    return case_ids


def _send(ids: Sequence[int]) -> None:
    current_app.send_task(RUN_TASK, args=[list(ids)])


def predictions_sweep(*, now: datetime | None = None) -> int:
    """Re-send lost work: predictions, then cases (:func:`cases_sweep`). Returns how many predictions were sent.

    RUNNING means the worker died when its heartbeat is older than
    ``PREDICTION_HEARTBEAT_STALE_S``, when its pid is gone on this host, or
    (rows claimed before heartbeats) after the task's hard time limit. QUEUED
    for longer than PREDICTION_REQUEUE_AFTER means the message was lost.
    ``started_at`` marks a re-send, so one row is not re-sent on every sweep.
    """
    now = now or timezone.now()
    sent = _rows_sweep(now) + cases_sweep(now=now)
    cases_sweep_settled(now=now)
    return sent


def _rows_sweep(now: datetime) -> int:
    stale = now - timedelta(seconds=settings.PREDICTION_HEARTBEAT_STALE_S)
    stuck_running = now - timedelta(seconds=celery_config.lost_after_s(RUN_TASK))
    stuck_queued = now - timedelta(seconds=settings.PREDICTION_REQUEUE_AFTER)
    running = Q(status=Prediction.Status.RUNNING)
    with transaction.atomic():
        rows = list(
            Prediction.objects.select_for_update(skip_locked=True)
            .filter(
                (running & Q(heartbeat_at__lt=stale))
                | (running & Q(heartbeat_at__isnull=True, started_at__lt=stuck_running))
                | (running & ~Q(worker=""))  # checked below: is its process gone?
                | Q(status=Prediction.Status.QUEUED, started_at__isnull=True, created_at__lt=stuck_queued)
                | Q(status=Prediction.Status.QUEUED, started_at__lt=stuck_queued)
            )
            .values_list("pk", "image__case_id", "status", "heartbeat_at", "started_at", "worker")
        )
        gone: dict[str, bool] = {}
        stuck = [
            (pk, case_id)
            for pk, case_id, status, heartbeat_at, started_at, worker in rows
            if status == Prediction.Status.QUEUED
            or (heartbeat_at is not None and heartbeat_at < stale)
            or (heartbeat_at is None and started_at is not None and started_at < stuck_running)
            or (worker and gone.setdefault(worker, worker_gone(worker)))
        ]
        if not stuck:
            return 0
        ids = [pk for pk, _ in stuck]
        Prediction.objects.filter(pk__in=ids).update(
            status=Prediction.Status.QUEUED, started_at=now, worker="", heartbeat_at=None
        )
        for case_id in {case_id for _, case_id in stuck}:
            case_set_status(case_id=case_id, status=CaseStatus.QUEUED)
        transaction.on_commit(lambda: _send(ids), robust=True)
    logger.warning("sweeper re-queued %d prediction(s)", len(ids))
    return len(ids)
