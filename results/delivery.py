"""Worker side of results to the PACS: queue a case's deliveries, send a batch per destination, retry, sweep.

A batch is every due delivery of one case to one destination: one DIMSE
association or one STOW-RS request, with a log entry per object. Safe to run
twice: each delivery is first claimed with a conditional UPDATE (only a due,
open delivery is claimed, and the claim pushes its due time past the task's
hard limit), so a second message or the sweeper's re-send finds nothing to do.
Retries follow RESULTS_RETRY_SCHEDULE with the webhooks' rules (oncoportal.retry).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import partial

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from cases.models import Case
from oncoportal import celery_config
from oncoportal.retry import CLAIM_SLACK, SWEEP_GRACE, retry_wait
from results.models import (
    OPEN_STATUSES,
    DeliveryStatus,
    Destination,
    ResultDelivery,
    ResultKind,
    ResultObject,
)
from results.outgoing import batch_prepare, batch_send
from results.senders import ObjectResult, Outcome
from results.services.build import results_build

logger = logging.getLogger(__name__)

DELIVER_TASK = celery_config.DELIVER_RESULTS
LOG_KEEP = 100  # entries per delivery; the oldest go first
AI_KINDS = (ResultKind.SALIENCY_SC, ResultKind.AI_SR)
# What the case page's Resend button sends again: not delivered, whether still retrying or given up.
RESENDABLE = (DeliveryStatus.FAILED, DeliveryStatus.GAVE_UP)


def log_entry(
    *, outcome: str, status: str = "", detail: str = "", at: datetime | None = None
) -> dict[str, str]:
    """One line of a delivery's log (no identity value ever goes in one)."""
    return {
        "at": (at or timezone.now()).isoformat(timespec="seconds"),
        "outcome": outcome,
        "status": status,
        "detail": detail[:500],
    }


def destinations_for_case(case: Case) -> QuerySet[Destination]:
    """The active destinations that take this case's site (site match, or every site)."""
    return Destination.objects.filter(Q(site__isnull=True) | Q(site_id=case.site_id), is_active=True)


def _takes(destination: Destination, kind: str) -> bool:
    return destination.send_ai_results if kind in AI_KINDS else destination.send_review_results


def batch_queue(*, case_id: int, destination_id: int, countdown: float = 0) -> None:
    """Queue a batch attempt (a task by name: the pipeline never imports the tasks module)."""
    current_app.send_task(DELIVER_TASK, args=[case_id, destination_id], countdown=countdown or None)


def deliveries_create(*, results: Sequence[ResultObject]) -> list[ResultDelivery]:
    """A PENDING delivery of each object to each active destination that takes it; one batch queued per destination.

    Idempotent: an existing (result, destination) pair is kept as it is.
    """
    if not results:
        return []
    case = Case.objects.only("pk", "site_id").get(pk=results[0].case_id)
    now = timezone.now()
    with transaction.atomic():
        wanted = [
            ResultDelivery(
                result=result,
                destination=destination,
                next_attempt_at=now,
                log=[log_entry(outcome="queued", at=now)],
            )
            for destination in destinations_for_case(case)
            for result in results
            if _takes(destination, result.kind)
        ]
        ResultDelivery.objects.bulk_create(wanted, ignore_conflicts=True)
        created = list(
            ResultDelivery.objects.filter(
                result__in=[r.pk for r in results], destination__in={d.destination_id for d in wanted}
            ).select_related("destination")
        )
        for destination_id in sorted({d.destination_id for d in created}):
            transaction.on_commit(
                partial(batch_queue, case_id=case.pk, destination_id=destination_id), robust=True
            )
    return created


def results_build_and_queue(*, case_id: int, trigger: str) -> list[ResultDelivery]:
    """Build the case's result objects for ``trigger``, then queue them to every destination that takes them.

    Raises ValueError for a trigger other than "prediction" or "review".
    """
    if trigger == "prediction":
        built = results_build(case_id=case_id, trigger="prediction")
    elif trigger == "review":
        built = results_build(case_id=case_id, trigger="review")
    else:
        raise ValueError(f"unknown results trigger {trigger!r}: 'prediction' or 'review'")
    return deliveries_create(results=built)


def batch_attempt(*, case_id: int, destination_id: int) -> float | None:
    """Send the due deliveries of this case to this destination; returns the seconds until a retry, or None."""
    destination = Destination.objects.filter(pk=destination_id).first()
    if destination is None:
        return None
    if not destination.is_active:
        _give_up_disabled(case_id=case_id, destination_id=destination_id)
        return None
    claimed = _claim(case_id=case_id, destination_id=destination_id)
    if not claimed:
        return None
    deliveries = list(
        ResultDelivery.objects.filter(pk__in=[pk for pk, _ in claimed])
        .select_related("result", "result__case__study")
        .order_by("result__series_number", "result__instance_number", "pk")
    )
    study = deliveries[0].result.case.study
    prepared = batch_prepare(deliveries, study=study)
    results = dict(prepared.not_sent)
    if prepared.outgoing:
        results.update(batch_send(destination, prepared.outgoing))
    leases = dict(claimed)
    waits = [
        _record(delivery, results[delivery.pk], lease=leases[delivery.pk], note=prepared.note)
        for delivery in deliveries
    ]
    counts: dict[str, int] = {}
    for result in results.values():
        counts[result.outcome] = counts.get(result.outcome, 0) + 1
    logger.info(
        "results: case %s to destination %s (%s): %s",
        case_id,
        destination.pk,
        destination.name,
        ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items())),
    )
    pending = [w for w in waits if w is not None]
    return min(pending) if pending else None


def _claim(*, case_id: int, destination_id: int) -> list[tuple[int, datetime]]:
    """Claim each due, open delivery one by one (a conditional UPDATE each): (id, lease) of the ones won."""
    now = timezone.now()
    lease = now + timedelta(seconds=celery_config.lost_after_s(DELIVER_TASK))
    due = ResultDelivery.objects.filter(
        result__case_id=case_id,
        destination_id=destination_id,
        status__in=OPEN_STATUSES,
        next_attempt_at__lte=now + CLAIM_SLACK,
    ).values_list("pk", flat=True)
    won: list[tuple[int, datetime]] = []
    for pk in list(due):
        updated = ResultDelivery.objects.filter(
            pk=pk, status__in=OPEN_STATUSES, next_attempt_at__lte=now + CLAIM_SLACK
        ).update(next_attempt_at=lease, attempts=F("attempts") + 1)
        if updated == 1:
            won.append((pk, lease))
    return won


def _record(delivery: ResultDelivery, result: ObjectResult, *, lease: datetime, note: str) -> float | None:
    """Write one object's outcome and log entry; returns its retry wait, or None when it is settled."""
    now = timezone.now()
    detail = result.detail
    if result.outcome.stored and note:
        detail = f"{detail}; {note}"
    wait: float | None = None
    if result.outcome.stored:
        status = DeliveryStatus.SUCCEEDED
    elif result.outcome == Outcome.RETRY:
        wait = retry_wait(delivery.attempts, settings.RESULTS_RETRY_SCHEDULE)
        status = DeliveryStatus.FAILED if wait is not None else DeliveryStatus.GAVE_UP
        if wait is None:
            detail = f"{detail}; given up after {delivery.attempts} attempt(s)"
    else:
        status = DeliveryStatus.GAVE_UP
        detail = f"{detail}; not retried (sending it again would fail the same way)"
    entry = log_entry(outcome=result.outcome.value, status=result.status, detail=detail, at=now)
    with transaction.atomic():
        row = ResultDelivery.objects.select_for_update().get(pk=delivery.pk)
        row.log = [*row.log, {**entry, "attempt": delivery.attempts}][-LOG_KEEP:]
        fields = ["log"]
        if row.next_attempt_at == lease:  # still ours: no resend reset it meanwhile
            row.status = status
            row.last_status = result.status[:16]
            row.last_error = "" if result.outcome.stored else result.detail[:500]
            row.next_attempt_at = now + timedelta(seconds=wait) if wait is not None else None
            if result.outcome.stored:
                row.delivered_at = now
            fields += ["status", "last_status", "last_error", "next_attempt_at", "delivered_at"]
        else:
            wait = None
        row.save(update_fields=fields)
    return wait


def _give_up_disabled(*, case_id: int, destination_id: int) -> None:
    with transaction.atomic():
        for row in ResultDelivery.objects.select_for_update().filter(
            result__case_id=case_id, destination_id=destination_id, status__in=OPEN_STATUSES
        ):
            _give_up(row, "not sent: the destination is disabled")


def _give_up(row: ResultDelivery, reason: str) -> None:
    row.status = DeliveryStatus.GAVE_UP
    row.next_attempt_at = None
    row.last_error = reason
    row.log = [*row.log, log_entry(outcome=Outcome.FAILED.value, detail=reason)][-LOG_KEEP:]
    row.save(update_fields=["status", "next_attempt_at", "last_error", "log"])


def deliveries_sweep(*, now: datetime | None = None) -> int:
    """Periodic: re-queue batches overdue by SWEEP_GRACE (lost message, dead worker, a retry past the countdown
    ceiling); give up what waits for a disabled destination. Returns how many batches were queued.
    """
    now = now or timezone.now()
    with transaction.atomic():
        for row in ResultDelivery.objects.select_for_update(skip_locked=True).filter(
            status__in=OPEN_STATUSES, destination__is_active=False
        ):
            _give_up(row, "not sent: the destination is disabled")
    with transaction.atomic():
        due = list(
            ResultDelivery.objects.select_for_update(skip_locked=True)
            .filter(
                status__in=OPEN_STATUSES,
                next_attempt_at__lte=now - SWEEP_GRACE,
                destination__is_active=True,
            )
            .values_list("pk", "result__case_id", "destination_id")[:5000]
        )
        if not due:
            return 0
        ResultDelivery.objects.filter(pk__in=[pk for pk, _, _ in due]).update(next_attempt_at=now)
        batches = sorted({(case_id, destination_id) for _, case_id, destination_id in due})
        for case_id, destination_id in batches:
            transaction.on_commit(
                partial(batch_queue, case_id=case_id, destination_id=destination_id), robust=True
            )
    logger.warning("results sweeper re-queued %d batch(es) of %d delivery(ies)", len(batches), len(due))
    return len(batches)


def batches_of(deliveries: Iterable[ResultDelivery]) -> list[tuple[int, int]]:
    """The (case id, destination id) batches these deliveries belong to."""
    return sorted({(d.result.case_id, d.destination_id) for d in deliveries})
