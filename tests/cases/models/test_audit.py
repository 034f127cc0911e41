"""AuditEvent.source and the migration that fills it in for events recorded before it existed."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from cases.models import AuditEvent

pytestmark = pytest.mark.django_db

backfill = importlib.import_module("cases.migrations.0006_audit_event_source").backfill_web_source


def test_old_events_with_an_address_came_from_the_web(site):
    from_web = AuditEvent.objects.create(action="case.viewed", ip_address="10.0.0.1")
    from_command = AuditEvent.objects.create(action="model.registered")
    # The historical model (plain manager), as the migration itself sees it.
    state = MigrationExecutor(connection).loader.project_state(("cases", "0006_audit_event_source"))
    backfill(state.apps, None)
    from_web.refresh_from_db()
    from_command.refresh_from_db()
    assert (from_web.source, from_command.source) == ("web", "")


def test_source_is_append_only_like_the_rest(site):
    event = AuditEvent.objects.create(action="case.viewed", source="web")
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(source="api")
    event.source = "api"
    with pytest.raises(PermissionError):
        event.save()
