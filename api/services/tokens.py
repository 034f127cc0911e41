"""Issuing, checking and revoking API tokens: the one path the admin, the command and the API share."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken, Scope
from cases.models import User
from cases.services.audit import AuditContext, audit_record
from oncoportal.exceptions import InvalidInput

TOKEN_PREFIX = "onc_"
# onc_<8 prefix chars>_<43 secret chars>: the prefix finds the row, the digest of the whole proves it.
_TOKEN = re.compile(r"^onc_([A-Za-z0-9]{8})_([A-Za-z0-9_-]{43})$")
MAX_LIFETIME = timedelta(days=730)
USE_RECORD_EVERY = timedelta(seconds=60)  # last_used_at is written at most once a minute per token


class TokenRejected(Exception):
    """The token in a request is not one that may be used; the message says why, without data."""


@dataclass(frozen=True)
class IssuedToken:
    """A new token row and its secret value: the only moment the value exists outside the client."""

    token: ApiToken
    value: str


def token_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def parse_scopes(scopes: str | list[str] | tuple[str, ...]) -> list[str]:
    """Scopes from a list or a comma-separated string, checked and in a stable order; InvalidInput otherwise."""
    items = [s.strip() for s in (scopes.split(",") if isinstance(scopes, str) else scopes) if s.strip()]
    unknown = sorted(set(items) - set(Scope.values))
    if unknown:
        raise InvalidInput(f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(Scope.values)}")
    if not items:
        raise InvalidInput(f"give at least one scope: {', '.join(Scope.values)}")
    return [s for s in Scope.values if s in items]


@transaction.atomic
def token_create(
    *,
    user: User,
    name: str,
    scopes: str | list[str] | tuple[str, ...],
    expires_in: timedelta | None = None,
    rate_per_minute: int | None = None,
    created_by: User | None = None,
    audit: AuditContext | None = None,
) -> IssuedToken:
    """Issue a token acting as ``user``; returns the row and the value to show once.

    Raises InvalidInput for an empty name, unknown or no scopes, a lifetime
    outside (0, 730 days], a rate below 1, or an inactive user.
    """
    name = name.strip()
    if not name:
        raise InvalidInput("name the token after what will use it, e.g. 'PACS router'")
    if not user.is_active:
        raise InvalidInput(f"user {user.get_username()} is inactive")
    lifetime = expires_in if expires_in is not None else timedelta(days=settings.API_TOKEN_DEFAULT_DAYS)
    if not (timedelta(0) < lifetime <= MAX_LIFETIME):
        raise InvalidInput(f"a token lives between a minute and {MAX_LIFETIME.days} days")
    if rate_per_minute is not None and rate_per_minute < 1:
        raise InvalidInput("the rate limit is at least 1 request a minute")
    checked = parse_scopes(scopes)
    prefix = secrets.token_hex(4)
    value = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        name=name[:100],
        user=user,
        prefix=prefix,
        key_hash=token_digest(value),
        scopes=checked,
        rate_per_minute=rate_per_minute,
        created_by=created_by,
        expires_at=timezone.now() + lifetime,
    )
    audit_record(
        action="api_token.created",
        actor=created_by,
        obj=token,
        site=user.site,
        audit=audit,
        detail={"user": user.get_username(), "scopes": checked, "expires_at": token.expires_at.isoformat()},
    )
    return IssuedToken(token=token, value=value)


@transaction.atomic
def token_revoke(*, token: ApiToken, by: User | None = None, audit: AuditContext | None = None) -> ApiToken:
    """Revoke a token now; idempotent (an already revoked token is returned as it is)."""
    locked = ApiToken.objects.select_for_update().get(pk=token.pk)
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = timezone.now()
    locked.revoked_by = by
    locked.save(update_fields=["revoked_at", "revoked_by"])
    audit_record(
        action="api_token.revoked",
        actor=by,
        obj=locked,
        site=locked.user.site,
        audit=audit,
        detail={"user": locked.user.get_username(), "prefix": locked.prefix},
    )
    return locked


def token_authenticate(value: str, *, ip: str | None = None) -> ApiToken:
    """The usable token with this value, its use recorded; raises TokenRejected with the reason otherwise."""
    match = _TOKEN.match(value.strip())
    if match is None:
        raise TokenRejected("malformed token: expected onc_<8 characters>_<43 characters>")
    token = ApiToken.objects.select_related("user").filter(prefix=match.group(1)).first()
    # Compare digests in constant time even when no row matched, so timing tells nothing.
    expected = token.key_hash if token is not None else "0" * 64
    if not hmac.compare_digest(expected, token_digest(value.strip())) or token is None:
        raise TokenRejected("unknown token")
    if token.is_revoked:
        raise TokenRejected("this token was revoked")
    if token.is_expired:
        raise TokenRejected("this token has expired")
    if not token.user.is_active:
        raise TokenRejected("the token's account is inactive")
    _record_use(token, ip=ip)
    return token


def _record_use(token: ApiToken, *, ip: str | None) -> None:
    now = timezone.now()
    if (
        token.last_used_at is not None
        and now - token.last_used_at < USE_RECORD_EVERY
        and token.last_used_ip == ip
    ):
        return
    # A conditional UPDATE: many requests at once still write once a minute.
    ApiToken.objects.filter(pk=token.pk).exclude(
        last_used_at__gt=now - USE_RECORD_EVERY, last_used_ip=ip
    ).update(last_used_at=now, last_used_ip=ip)
    token.last_used_at, token.last_used_ip = now, ip
