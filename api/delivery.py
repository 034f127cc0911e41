"""Worker side of webhooks: sign and POST one delivery, record how it went, schedule the retry, sweep.

Safe to run twice for one delivery: an attempt first claims the row with a
conditional UPDATE (only a due, open delivery of an active subscription is
claimed, and the claim pushes its due time past the task's hard limit), so a
second message, or the sweeper's re-send, finds nothing to do. The receiver
may still see an event twice (a worker dying after the POST and before the
write); ``X-OncoPortal-Delivery`` lets it drop the copy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from api.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from api.models.webhooks import OPEN_STATUSES
from cases.models import AuditSource
from cases.services.audit import AuditContext, audit_record
from oncoportal import celery_config
from oncoportal.retry import CLAIM_SLACK, SWEEP_GRACE, retry_wait

logger = logging.getLogger(__name__)

DELIVER_TASK = celery_config.DELIVER_WEBHOOK
USER_AGENT = "OncoPortal-Webhooks/1"
RESPONSE_SNIPPET = 200  # characters of a failing receiver's answer kept in last_error


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed with the secret>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def payload_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON, keys sorted, UTF-8."""
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


@dataclass(frozen=True)
class Response:
    """What one POST came to: a status code, or an error before any."""

    status: int | None
    error: str

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirected POST would become a GET without the body; report the 3xx instead.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Response:
    """POST ``body``; never raises for what a receiver or the network does."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as answer:
            answer.read(1024)  # let keep-alive servers finish; the body is not used
            return Response(answer.status, "")
    except urllib.error.HTTPError as exc:
        snippet = exc.read(RESPONSE_SNIPPET).decode("utf-8", "replace").strip()
        reason = f"HTTP {exc.code}" + (f": {' '.join(snippet.split())}" if snippet else "")
        return Response(exc.code, reason)
    except urllib.error.URLError as exc:
        return Response(None, f"cannot connect: {exc.reason}")
    except TimeoutError:
        return Response(None, f"no answer within {timeout:g} s")
    except OSError as exc:
        return Response(None, f"{type(exc).__name__}: {exc}")


def delivery_attempt(*, delivery_id: int) -> float | None:
    """Attempt one delivery if it is due; returns the seconds until its retry, or None (done, or not ours).

    A 2xx answer succeeds. Anything else is recorded (status code or error,
    attempts) and retried after the next wait of WEBHOOK_RETRY_SCHEDULE; after
    the last, the delivery is given up. A subscription failing every delivery
    for WEBHOOK_DISABLE_AFTER is disabled.
    """
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    subscription = delivery.subscription
    body = payload_body(delivery.payload)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-OncoPortal-Event": delivery.event,
        "X-OncoPortal-Delivery": str(delivery.event_id),
        "X-OncoPortal-Signature": signature_header(
            secret=subscription.secret, body=body, timestamp=timestamp
        ),
    }
    answer = post(url=subscription.url, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    if answer.ok:
        _record_success(delivery, answer)
        return None
    return _record_failure(delivery, answer)


def _claim(delivery_id: int) -> WebhookDelivery | None:
    now = timezone.now()
    lease = now + timedelta(seconds=celery_config.lost_after_s(DELIVER_TASK))
    with transaction.atomic():
        claimed = (
            WebhookDelivery.objects.filter(
                pk=delivery_id,
                status__in=OPEN_STATUSES,
                next_attempt_at__lte=now + CLAIM_SLACK,
                subscription__is_active=True,
            ).update(next_attempt_at=lease, attempts=F("attempts") + 1)
            == 1
        )
    if claimed:
        return WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    # An open delivery of a subscription that was disabled meanwhile is not sent: say so in the log.
    WebhookDelivery.objects.filter(
        pk=delivery_id, status__in=OPEN_STATUSES, subscription__is_active=False
    ).update(
        status=DeliveryStatus.GAVE_UP,
        next_attempt_at=None,
        last_error="not sent: the subscription is disabled",
    )
    return None


def _record_success(delivery: WebhookDelivery, answer: Response) -> None:
    now = timezone.now()
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SUCCEEDED,
            last_status_code=answer.status,
            last_error="",
            next_attempt_at=None,
            delivered_at=now,
        )
        WebhookSubscription.objects.filter(pk=delivery.subscription_id).update(
            failing_since=None, last_success_at=now
        )


def _record_failure(delivery: WebhookDelivery, answer: Response) -> float | None:
    now = timezone.now()
    wait = retry_wait(delivery.attempts, settings.WEBHOOK_RETRY_SCHEDULE)
    with transaction.atomic():
        # The first failure since the last success starts the clock (a conditional UPDATE: races keep the first).
        WebhookSubscription.objects.filter(pk=delivery.subscription_id, failing_since__isnull=True).update(
            failing_since=now
        )
        subscription = WebhookSubscription.objects.select_for_update().get(pk=delivery.subscription_id)
        disable = subscription_failing_too_long(subscription, now=now)
        if disable:
            wait = None
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED if wait is not None else DeliveryStatus.GAVE_UP,
            last_status_code=answer.status,
            last_error=answer.error[:500],
            next_attempt_at=now + timedelta(seconds=wait) if wait is not None else None,
        )
        if disable:
            subscription_disable_failing(subscription=subscription, last_error=answer.error, now=now)
    logger.info(
        "webhook delivery %s to %s failed (attempt %d): %s",
        delivery.pk,
        subscription.name,
        delivery.attempts,
        answer.error,
    )
    return wait


def subscription_failing_too_long(subscription: WebhookSubscription, *, now: datetime) -> bool:
    return (
        subscription.is_active
        and subscription.failing_since is not None
        and now - subscription.failing_since >= timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER)
    )


def subscription_disable_failing(
    *, subscription: WebhookSubscription, last_error: str, now: datetime
) -> None:
    """Disable a subscription that has failed for too long (row locked by the caller); audited, with the reason."""
    since = subscription.failing_since or now
    reason = f"every delivery failed since {since:%Y-%m-%d %H:%M} UTC"
    if last_error:
        reason += f"; last error: {last_error}"
    subscription.is_active = False
    subscription.disabled_at = now
    subscription.disabled_reason = reason[:500]
    subscription.save(update_fields=["is_active", "disabled_at", "disabled_reason"])
    # What was still waiting is not sent to a disabled receiver.
    WebhookDelivery.objects.filter(subscription=subscription, status__in=OPEN_STATUSES).update(
        status=DeliveryStatus.GAVE_UP,
        next_attempt_at=None,
        last_error="not sent: the subscription was disabled",
    )
    audit_record(
        action="webhook.disabled",
        obj=subscription,
        site=subscription.site,
        audit=AuditContext.system(source=AuditSource.WORKER),
        detail={"name": subscription.name, "reason": subscription.disabled_reason},
    )
    logger.warning("webhook subscription %s disabled: %s", subscription.pk, reason)


def delivery_send(*, delivery_id: int, countdown: float = 0) -> None:
    """Queue an attempt of this delivery (from the worker and the sweeper; the web side uses the task)."""
    current_app.send_task(DELIVER_TASK, args=[delivery_id], countdown=countdown or None)


def deliveries_sweep(*, now: datetime | None = None) -> int:
    """Periodic: re-send deliveries overdue by SWEEP_GRACE, disable subscriptions failing too long.

    Re-sent rows get a new due time of now, so one that stays stuck is re-sent
    once per grace period, not on every sweep. Returns how many were re-sent.
    """
    now = now or timezone.now()
    with transaction.atomic():
        for subscription in WebhookSubscription.objects.select_for_update(skip_locked=True).filter(
            is_active=True,
            failing_since__lte=now - timedelta(seconds=settings.WEBHOOK_DISABLE_AFTER),
        ):
            last = (
                WebhookDelivery.objects.filter(subscription=subscription)
                .exclude(last_error="")
                .order_by("-pk")
                .values_list("last_error", flat=True)
                .first()
            )
            subscription_disable_failing(subscription=subscription, last_error=last or "", now=now)
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True)
            .filter(
                status__in=OPEN_STATUSES,
                next_attempt_at__lte=now - SWEEP_GRACE,
                subscription__is_active=True,
            )
            .values_list("pk", flat=True)[:1000]
        )
        if not due:
            return 0
        WebhookDelivery.objects.filter(pk__in=due).update(next_attempt_at=now)
        for delivery_id in due:
            transaction.on_commit(partial(delivery_send, delivery_id=delivery_id), robust=True)
    logger.warning("webhook sweeper re-sent %d delivery(ies)", len(due))
    return len(due)
