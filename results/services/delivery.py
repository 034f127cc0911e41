"""Resending result deliveries (admin action, case page, REST API): one service, audited, queued on commit."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from django.db import transaction
from django.utils import timezone

from cases.services.audit import AuditContext, audit_record
from results.delivery import LOG_KEEP, batch_queue, log_entry
from results.models import DeliveryStatus, ResultDelivery


@transaction.atomic
def deliveries_resend(*, deliveries: Iterable[ResultDelivery], audit: AuditContext) -> list[ResultDelivery]:
    """Send these deliveries again, whatever their status: back to PENDING with a fresh retry schedule.

    Each is audited (``result.resend``) and logged with who asked; one batch per
    case and destination is queued once the transaction commits. Returns the rows reset.
    """
    ids = [d.pk for d in deliveries]
    now = timezone.now()
    who = audit.actor.get_username() if audit.actor is not None else f"({audit.source})"
    rows = list(
        ResultDelivery.objects.select_for_update()
        .filter(pk__in=ids)
        .select_related("result__case__site", "destination")
        .order_by("pk")
    )
    for row in rows:
        row.status = DeliveryStatus.PENDING
        row.attempts = 0
        row.next_attempt_at = now
        row.last_error = ""
        row.log = [*row.log, log_entry(outcome="resend", detail=f"resend asked by {who}", at=now)][-LOG_KEEP:]
        row.save(update_fields=["status", "attempts", "next_attempt_at", "last_error", "log"])
        audit_record(
            action="result.resend",
            obj=row,
            site=row.result.case.site,
            audit=audit,
            detail={
                "case": row.result.case_id,
                "sop_instance_uid": row.result.sop_instance_uid,
                "destination": row.destination.name,
            },
        )
    for case_id, destination_id in sorted({(r.result.case_id, r.destination_id) for r in rows}):
        transaction.on_commit(
            partial(batch_queue, case_id=case_id, destination_id=destination_id), robust=True
        )
    return rows
