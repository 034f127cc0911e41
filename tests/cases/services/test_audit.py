"""The audit context: built from a request or for a command/worker, and what it puts in the trail."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory

from cases.models import AuditEvent, AuditSource
from cases.services.audit import AuditContext, audit_record
from cases.services.case import case_change_task

pytestmark = pytest.mark.django_db


def test_from_request_takes_the_user_address_and_agent(radiologist):
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3", HTTP_USER_AGENT="x" * 400)
    request.user = radiologist
    audit = AuditContext.from_request(request, source=AuditSource.WEB)
    assert audit == AuditContext(actor=radiologist, source="web", ip="10.1.2.3", user_agent="x" * 300)


def test_from_request_without_a_signed_in_user_or_address():
    request = RequestFactory().get("/", REMOTE_ADDR="")
    request.user = AnonymousUser()
    audit = AuditContext.from_request(request, source=AuditSource.API)
    assert audit.actor is None and audit.ip is None and audit.source == "api"
    del request.user  # e.g. before the authentication middleware ran
    assert AuditContext.from_request(request, source=AuditSource.DICOMWEB).actor is None


def test_system_context_and_unknown_sources():
    assert AuditContext.system(source=AuditSource.CLI) == AuditContext(source="cli")
    assert AuditContext.system(source="worker").ip is None
    with pytest.raises(ValueError, match="unknown audit source 'email'"):
        AuditContext.system(source="email")
    with pytest.raises(TypeError):
        AuditContext("web")  # keyword-only: actor and source cannot be swapped


def test_audit_record_writes_the_context(radiologist, curator, site):
    audit = AuditContext(actor=radiologist, source=AuditSource.WEB, ip="192.0.2.7", user_agent="Firefox")
    event = audit_record(action="thing.done", site=site, audit=audit, detail={"n": 1})
    event.refresh_from_db()
    assert (event.actor, event.actor_username, event.source) == (radiologist, "rad", "web")
    assert (event.ip_address, event.user_agent, event.detail) == ("192.0.2.7", "Firefox", {"n": 1})
    # An explicit actor wins over the context's (a service acting for someone else).
    assert audit_record(action="thing.done", actor=curator, audit=audit).actor == curator
    bare = audit_record(action="thing.done")
    assert (bare.source, bare.ip_address, bare.user_agent, bare.actor) == ("", None, "", None)


def test_a_service_given_a_dimse_context_records_its_source(ct_case, radiologist):
    # No HttpRequest anywhere: the way a DICOM association or a Celery task would call it.
    case_change_task(
        case=ct_case,
        task="brain_mri",
        user=radiologist,
        audit=AuditContext.system(source=AuditSource.DIMSE, actor=radiologist),
    )
    event = AuditEvent.objects.get(action="case.task_changed")
    assert (event.source, event.actor, event.ip_address) == ("dimse", radiologist, None)


def test_intake_without_a_context_records_the_batch_source(ingest, brain_jpeg, radiologist, site):
    from cases.services.intake import intake_sources

    ingest(brain_jpeg)  # the fixture passes source="web" and no context
    event = AuditEvent.objects.get(action="intake.batch")
    assert (event.source, event.actor) == ("web", radiologist)
    # A demo load is run from the command line.
    intake_sources(uploads=[("x.png", b"not an image")], site=site, user=None, source="demo")
    assert AuditEvent.objects.filter(action="intake.batch").first().source == "cli"
