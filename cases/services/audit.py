"""Writing the audit trail, and the context every service is given instead of a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import models
from django.http import HttpRequest

from cases.models import AuditEvent, AuditSource, Site, User

USER_AGENT_MAX_CHARS = 300  # AuditEvent.user_agent's length


@dataclass(frozen=True, kw_only=True)
class AuditContext:
    """Who acted and through which way in, as the audit trail records it beside each action.

    Services take this rather than an ``HttpRequest``, so a REST call, a DICOM
    association, a command or a Celery task can call them as a web view does.
    ``ip`` and ``user_agent`` are only known for HTTP entry points.
    """

    actor: User | None = None
    source: str
    ip: str | None = None
    user_agent: str = ""

    def __post_init__(self) -> None:
        if self.source not in AuditSource.values:
            raise ValueError(f"unknown audit source {self.source!r}; one of {', '.join(AuditSource.values)}")

    @classmethod
    def from_request(cls, request: HttpRequest, *, source: str) -> AuditContext:
        """The context of an HTTP request: its signed-in user (if any), client address and agent."""
        user = getattr(request, "user", None)
        return cls(
            source=source,
            actor=user if user is not None and user.is_authenticated else None,
            # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted
            # proxy rewrites it, and the deployment guide puts one in front that does.
            ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX_CHARS],
        )

    @classmethod
    def system(cls, *, source: str, actor: User | None = None) -> AuditContext:
        """A context with no HTTP request behind it: a command (cli) or a background task (worker)."""
        return cls(source=source, actor=actor)


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    obj: models.Model | None = None,
    site: Site | None = None,
    audit: AuditContext | None = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. Never raises for a missing actor: system actions have none.

    ``actor`` defaults to the context's; with no context the source is left
    blank (not recorded), which only tests and internal callers should do.
    """
    if actor is None and audit is not None:
        actor = audit.actor
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_username=actor.get_username() if actor is not None else "",
        object_type=obj._meta.label_lower if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        site=site,
        source=audit.source if audit is not None else "",
        ip_address=audit.ip if audit is not None else None,
        user_agent=audit.user_agent if audit is not None else "",
        detail=detail or {},
    )


def audit_records(
    *,
    action: str,
    items: list[tuple[models.Model, dict[str, Any]]],
    audit: AuditContext,
) -> list[AuditEvent]:
    """Append one event per ``(object, detail)`` in one INSERT (a worker's batch of results)."""
    actor = audit.actor
    return AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                action=action,
                actor=actor,
                actor_username=actor.get_username() if actor is not None else "",
                object_type=obj._meta.label_lower,
                object_id=str(obj.pk),
                source=audit.source,
                ip_address=audit.ip,
                user_agent=audit.user_agent,
                detail=detail,
            )
            for obj, detail in items
        ]
    )
