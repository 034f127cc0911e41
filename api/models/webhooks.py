"""Webhooks: a Curator subscribes a URL to case events; each event to each subscription is one delivery.

A delivery's body is signed with the subscription's secret (HMAC-SHA256, see
docs/webhooks.md), so the secret is stored as it is: unlike an API token,
whose digest is enough to check it, signing needs the value itself. It is
shown once, when the subscription is created, and never again by the API or
the admin.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models

from cases.services.events import CASE_EVENTS

#: Receivers are reached over HTTP(S) only.
webhook_url_validator = URLValidator(schemes=["http", "https"], message="Enter an http:// or https:// URL.")


class WebhookEvent(models.TextChoices):
    """What a delivery announces; a subscription picks among the case events (``ping`` is sent on request)."""

    PREDICTION_COMPLETED = "prediction.completed", "AI prediction completed"
    CASE_FAILED = "case.failed", "Case failed (prediction could not run)"
    REVIEW_COMPLETED = "review.completed", "Review completed (the case is reviewed)"
    CASE_ADJUDICATED = "case.adjudicated", "Case adjudicated by a Curator"
    PING = "ping", "Ping (a test delivery)"


# The names are defined once, by the cases app that sends them.
assert [e for e in WebhookEvent.values if e != WebhookEvent.PING] == list(CASE_EVENTS)
SUBSCRIBABLE_EVENTS = tuple(CASE_EVENTS)


class WebhookSubscription(models.Model):
    """A receiver URL, the events it wants, and whether it still gets them."""

    name = models.CharField(max_length=100, help_text="Who receives it, e.g. 'RIS worklist bridge'.")
    url = models.URLField(
        max_length=500, validators=[webhook_url_validator], help_text="Where deliveries are POSTed."
    )
    events = models.JSONField(default=list, help_text=f"Some of: {', '.join(SUBSCRIBABLE_EVENTS)}.")
    site = models.ForeignKey(
        "cases.Site",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        help_text="Only this site's cases; empty for every site.",
    )
    # Stored as is (signing needs it); shown once, at creation.
    secret = models.CharField(max_length=100, editable=False)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="First failed attempt since the last success; empty when healthy."
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "webhook subscription"

    def __str__(self) -> str:
        return self.name

    @property
    def state(self) -> str:
        if not self.is_active:
            return "disabled"
        return "failing" if self.failing_since is not None else "active"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending (not tried yet)"
    FAILED = "failed", "Failed (will retry)"
    SUCCEEDED = "succeeded", "Succeeded"
    GAVE_UP = "gave_up", "Gave up"


#: Statuses a delivery may still be attempted in.
OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


class WebhookDelivery(models.Model):
    """One event to one subscription: its payload, and how its attempts went."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=32, choices=WebhookEvent.choices)
    event_id = models.UUIDField(
        default=uuid.uuid4,
        unique=True,
        editable=False,
        help_text="Sent as X-OncoPortal-Delivery; dedupe on it.",
    )
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When the next attempt is due; empty once finished."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The admin's log and a subscription's list in the API: newest first.
            models.Index(fields=["subscription", "-created_at"], name="webhook_delivery_sub_new"),
            models.Index(fields=["status", "-created_at"], name="webhook_delivery_status_new"),
            # The sweeper: open deliveries by due time.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due",
                condition=models.Q(status__in=OPEN_STATUSES),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.subscription} ({self.status})"
