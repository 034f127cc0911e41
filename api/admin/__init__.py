"""Admin for the API: tokens (issued and revoked through the services) and webhooks (subscriptions, delivery log)."""

from api.admin import tokens, webhooks

__all__ = ["tokens", "webhooks"]
