"""Sign-ins in the audit trail: every login and every failed login, with where it came from.

Connected to django.contrib.auth's signals in CasesConfig.ready. A failed login names the
username tried (no password, no other credential), so repeated guessing shows in the trail;
a username locked after too many failures (django-axes, oncoportal/sign_in_throttle.py) is
recorded as ``auth.locked_out``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.http import HttpRequest

from cases.models import AuditSource, User
from cases.services.audit import USER_AGENT_MAX_CHARS, AuditContext, audit_record

USERNAME_MAX_CHARS = 150


def _context(request: HttpRequest | None, user: User | None) -> AuditContext:
    if request is None:
        return AuditContext.system(source=AuditSource.WEB, actor=user)
    source = AuditSource.API if request.path.startswith("/api/") else AuditSource.WEB
    return AuditContext(
        source=source,
        actor=user,
        ip=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX_CHARS],
    )


def on_logged_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    audit_record(action="auth.login", obj=user, site=user.site, audit=_context(request, user))


def on_logged_out(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        audit_record(action="auth.logout", obj=user, site=user.site, audit=_context(request, user))


def on_login_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    tried = str(credentials.get("username", ""))[:USERNAME_MAX_CHARS]
    audit_record(action="auth.login_failed", audit=_context(request, None), detail={"username": tried})


def on_locked_out(
    sender: Any, request: HttpRequest | None, username: str | None = None, **kwargs: Any
) -> None:
    """A username just reached the failure limit (django-axes): its sign-ins are refused for a while."""
    tried = str(username or "")[:USERNAME_MAX_CHARS]
    audit_record(action="auth.locked_out", audit=_context(request, None), detail={"username": tried})


def connect() -> None:
    from axes.signals import user_locked_out

    user_locked_out.connect(on_locked_out, dispatch_uid="cases.audit.locked_out")
    user_logged_in.connect(on_logged_in, dispatch_uid="cases.audit.login")
    user_logged_out.connect(on_logged_out, dispatch_uid="cases.audit.logout")
    user_login_failed.connect(on_login_failed, dispatch_uid="cases.audit.login_failed")
