"""What an account may see of the API's own objects (webhook subscriptions and their deliveries)."""

from __future__ import annotations

from django.db.models import QuerySet

from api.models import WebhookDelivery, WebhookSubscription
from cases.models import User
from cases.permissions import sees_all_sites


def webhook_subscriptions_for_user(*, user: User) -> QuerySet[WebhookSubscription]:
    """Every subscription for accounts that see all sites; else those of the account's own site."""
    subscriptions = WebhookSubscription.objects.select_related("site", "created_by")
    if sees_all_sites(user):
        return subscriptions
    site_id = getattr(user, "site_id", None)
    return subscriptions.filter(site_id=site_id) if site_id is not None else subscriptions.none()


def webhook_deliveries(*, subscription: WebhookSubscription) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(subscription=subscription)
