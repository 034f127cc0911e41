"""Webhook subscriptions (create, change, enable, disable, delete) and the deliveries each case event makes.

Deliveries are written in one transaction and queued once it commits; the
HTTP POSTs happen in the worker (``api.tasks.deliver_webhook``), never in
the request or task that caused the event.
"""

from __future__ import annotations

import secrets
import uuid
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from api.models import DeliveryStatus, WebhookDelivery, WebhookEvent, WebhookSubscription
from api.models.webhooks import SUBSCRIBABLE_EVENTS, webhook_url_validator
from api.tasks import deliver_webhook
from cases.models import Case, Site, User
from cases.permissions import sees_all_sites
from cases.services.audit import AuditContext, audit_record
from oncoportal.exceptions import InvalidInput, TransitionNotAllowed

SECRET_PREFIX = "whsec_"
_UNSET: Any = object()


def new_secret() -> str:
    return f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}"


def checked_url(url: str) -> str:
    url = url.strip()
    try:
        webhook_url_validator(url)
    except ValidationError:
        raise InvalidInput(f"{url!r} is not an http:// or https:// URL") from None
    return url


def checked_events(events: list[str] | tuple[str, ...]) -> list[str]:
    """The events, checked, without repeats, in the documented order; InvalidInput otherwise."""
    unknown = sorted(set(events) - set(SUBSCRIBABLE_EVENTS))
    if unknown:
        raise InvalidInput(
            f"unknown event(s) {', '.join(unknown)}; choose from {', '.join(SUBSCRIBABLE_EVENTS)}"
        )
    if not events:
        raise InvalidInput(f"choose at least one event: {', '.join(SUBSCRIBABLE_EVENTS)}")
    return [e for e in SUBSCRIBABLE_EVENTS if e in events]


def checked_site(*, user: User | None, site: Site | None) -> Site | None:
    """A user bound to a site subscribes to that site's events only; all sites needs view_all_sites."""
    if user is None or sees_all_sites(user):
        return site
    own = getattr(user, "site", None)
    if site is None:
        if own is None:
            raise InvalidInput("choose a site")
        return own
    if own is None or site.pk != own.pk:
        raise InvalidInput("you may subscribe to your own site's events only")
    return site


def _audit_url(url: str) -> str:
    # The audit trail keeps where, not any token a receiver put in its query string or user info.
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


def _audit_detail(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "name": subscription.name,
        "url": _audit_url(subscription.url),
        "events": subscription.events,
        "site": subscription.site.code if subscription.site else None,
        "is_active": subscription.is_active,
    }


@transaction.atomic
def webhook_create(
    *,
    name: str,
    url: str,
    events: list[str] | tuple[str, ...],
    site: Site | None = None,
    created_by: User | None = None,
    audit: AuditContext | None = None,
) -> WebhookSubscription:
    """Subscribe ``url`` to ``events`` (of ``site``'s cases, or every site's); the row's secret is shown once.

    Raises InvalidInput for an empty name, a URL that is not http(s), no or
    unknown events, or a site the creator may not subscribe to.
    """
    name = name.strip()
    if not name:
        raise InvalidInput("name the subscription after its receiver, e.g. 'RIS worklist bridge'")
    subscription = WebhookSubscription.objects.create(
        name=name[:100],
        url=checked_url(url),
        events=checked_events(events),
        site=checked_site(user=created_by, site=site),
        secret=new_secret(),
        created_by=created_by,
    )
    audit_record(
        action="webhook.created",
        actor=created_by,
        obj=subscription,
        site=subscription.site,
        audit=audit,
        detail=_audit_detail(subscription),
    )
    return subscription


@transaction.atomic
def webhook_update(
    *,
    subscription: WebhookSubscription,
    by: User | None = None,
    audit: AuditContext | None = None,
    name: str = _UNSET,
    url: str = _UNSET,
    events: list[str] | tuple[str, ...] = _UNSET,
    site: Site | None = _UNSET,
    is_active: bool = _UNSET,
) -> WebhookSubscription:
    """Change the given fields. Re-enabling clears the failure record (failing_since, disabled reason).

    Audited as webhook.updated (and webhook.enabled / webhook.disabled when
    ``is_active`` changes). Raises InvalidInput as :func:`webhook_create` does.
    """
    locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    before = _audit_detail(locked)
    if name is not _UNSET:
        name = name.strip()
        if not name:
            raise InvalidInput("the name cannot be empty")
        locked.name = name[:100]
    if url is not _UNSET:
        locked.url = checked_url(url)
    if events is not _UNSET:
        locked.events = checked_events(events)
    if site is not _UNSET:
        locked.site = checked_site(user=by, site=site)
    enabled = disabled = False
    if is_active is not _UNSET and bool(is_active) != locked.is_active:
        locked.is_active = bool(is_active)
        if locked.is_active:
            enabled = True
            locked.failing_since = None
            locked.disabled_at = None
            locked.disabled_reason = ""
        else:
            disabled = True
            locked.disabled_at = timezone.now()
            actor = by or (audit.actor if audit else None)
            who = actor.get_username() if actor is not None else "an administrator"
            locked.disabled_reason = f"disabled by {who}"
    locked.save()
    after = _audit_detail(locked)
    changed = {key: after[key] for key in after if after[key] != before[key]}
    if changed:
        action = "webhook.enabled" if enabled else "webhook.disabled" if disabled else "webhook.updated"
        audit_record(action=action, actor=by, obj=locked, site=locked.site, audit=audit, detail=changed)
    return locked


def webhook_enable(
    *, subscription: WebhookSubscription, by: User | None = None, audit: AuditContext | None = None
) -> WebhookSubscription:
    return webhook_update(subscription=subscription, by=by, audit=audit, is_active=True)


def webhook_disable(
    *, subscription: WebhookSubscription, by: User | None = None, audit: AuditContext | None = None
) -> WebhookSubscription:
    return webhook_update(subscription=subscription, by=by, audit=audit, is_active=False)


@transaction.atomic
def webhook_delete(
    *, subscription: WebhookSubscription, by: User | None = None, audit: AuditContext | None = None
) -> None:
    """Delete the subscription and its delivery log (audited, with what it was)."""
    audit_record(
        action="webhook.deleted",
        actor=by,
        obj=subscription,
        site=subscription.site,
        audit=audit,
        detail=_audit_detail(subscription),
    )
    subscription.delete()


# --- Events -----------------------------------------------------------------
def _now_iso() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


def case_summary(case: Case) -> dict[str, Any]:
    """The case as a payload carries it: ids and the AI result only, no patient data."""
    return {
        "id": case.pk,
        "url": f"{settings.PUBLIC_BASE_URL}/api/v1/cases/{case.pk}/",
        "site": case.site.code,
        "task": case.task,
        "status": case.status,
        "ai": {
            "label": case.ai_label or None,
            "confidence": case.ai_confidence,
            "positive": case.ai_positive,
            "untrained": case.ai_untrained,
            "outside_scope": case.ai_outside_scope,
        },
        "study_result": case.study_result,
    }


def _queue(deliveries: list[WebhookDelivery]) -> None:
    for delivery in deliveries:
        # After commit, so the worker finds the row; a broker outage leaves it to the sweeper.
        transaction.on_commit(partial(deliver_webhook.delay, delivery.pk), robust=True)


@transaction.atomic
def webhook_emit(*, event: str, case_id: int, detail: dict[str, Any] | None = None) -> list[WebhookDelivery]:
    """One delivery of this case event for every active subscription that wants it (site and event)."""
    # Subscriptions first: most installations have none for most events, and the worker asks this
    # once per finished case, so the case is read only when someone listens.
    subscriptions = [s for s in WebhookSubscription.objects.filter(is_active=True) if event in s.events]
    if not subscriptions:
        return []
    case = Case.objects.select_related("site").filter(pk=case_id).first()
    if case is None:
        return []
    subscriptions = [s for s in subscriptions if s.site_id is None or s.site_id == case.site_id]
    if not subscriptions:
        return []
    now = timezone.now()
    summary = case_summary(case)
    deliveries = []
    for subscription in subscriptions:
        event_id = uuid.uuid4()
        payload = {
            **(detail or {}),
            "id": str(event_id),
            "event": event,
            "created_at": _now_iso(),
            "case": summary,
        }
        deliveries.append(
            WebhookDelivery(
                subscription=subscription,
                event=event,
                event_id=event_id,
                payload=payload,
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
            )
        )
    created = WebhookDelivery.objects.bulk_create(deliveries)
    _queue(created)
    return created


@transaction.atomic
def webhook_ping(
    *, subscription: WebhookSubscription, by: User | None = None, audit: AuditContext | None = None
) -> WebhookDelivery:
    """Queue a ``ping`` delivery to this one subscription (to check the receiver and its signature check)."""
    if not subscription.is_active:
        raise TransitionNotAllowed("this subscription is disabled: enable it first")
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event=WebhookEvent.PING,
        event_id=event_id,
        payload={
            "id": str(event_id),
            "event": WebhookEvent.PING,
            "created_at": _now_iso(),
            "subscription": {"id": subscription.pk, "name": subscription.name},
        },
        next_attempt_at=timezone.now(),
    )
    audit_record(
        action="webhook.pinged",
        actor=by,
        obj=subscription,
        site=subscription.site,
        audit=audit,
        detail={"delivery": str(event_id)},
    )
    _queue([delivery])
    return delivery
