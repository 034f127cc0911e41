"""API tokens: how an integration (a PACS, a RIS, a script) signs in to the REST API."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Scope(models.TextChoices):
    """What a token may do; the account's role still decides what it may do it to."""

    READ = "read", "Read cases, studies, predictions, reviews and models"
    UPLOAD = "upload", "Send studies, score images, and route cases (task, priority, retry)"
    REVIEW = "review", "Post reviews (and adjudications, for Curators)"
    ADMIN = "admin", "Curator actions: models, audit trails, webhooks"


class ApiToken(models.Model):
    """A bearer token acting as one user account, with scopes, an expiry and a last-used time.

    Only a SHA-256 digest of the token is stored: the token itself is shown
    once, when it is created. ``prefix`` (its first characters, not secret)
    names it in lists and logs.
    """

    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'PACS router, building B'.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        help_text="The account the token acts as: its role and site decide what the token may see.",
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text="Some of: read, upload, review, admin.")
    rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests a minute before 429; empty uses ONCOPORTAL_API_RATE."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_usable(self) -> bool:
        return not self.is_revoked and not self.is_expired

    @property
    def state(self) -> str:
        if self.is_revoked:
            return "revoked"
        return "expired" if self.is_expired else "active"
