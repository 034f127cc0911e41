from api.models.tokens import ApiToken, Scope
from api.models.webhooks import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

__all__ = ["ApiToken", "DeliveryStatus", "Scope", "WebhookDelivery", "WebhookEvent", "WebhookSubscription"]
