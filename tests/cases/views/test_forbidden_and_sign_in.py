"""Issue 23 item 6: a 403 page that leads somewhere the user may go and logs one line; logins and
failed logins in the audit trail."""

from __future__ import annotations

import logging

import pytest
from django.urls import reverse

from cases.models import AuditEvent

pytestmark = pytest.mark.django_db


def _notice(response) -> str:
    html = response.content.decode()
    start = html.index('id="forbidden"')
    return html[start : html.index("</div>", start)]


def test_a_403_for_a_reader_leads_to_the_worklist_and_logs_one_line(client, radiologist, caplog):
    client.force_login(radiologist)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("cases:adjudication_queue"))
    assert response.status_code == 403
    html = _notice(response)
    assert f'href="{reverse("cases:worklist")}"' in html
    assert f'href="{reverse("cases:adjudication_queue")}"' not in html  # not a page they may open
    records = [
        r for r in caplog.records if r.name == "django.request" and getattr(r, "status_code", 0) == 403
    ]
    assert len(records) == 1 and records[0].exc_info is None and records[0].exc_text is None


def test_a_403_for_an_account_without_a_ui_role_does_not_link_the_worklist(client, no_role_user):
    client.force_login(no_role_user)
    response = client.get(reverse("cases:worklist"))
    assert response.status_code == 403
    html = _notice(response)
    assert f'href="{reverse("cases:worklist")}"' not in html
    assert f'href="{reverse("api:docs")}"' in html and 'action="/logout/"' in html


def test_logins_and_failed_logins_are_audited(client, radiologist):
    assert client.post(reverse("login"), {"username": "rad", "password": "wrong"}).status_code == 200
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.detail == {"username": "rad"} and failed.actor is None and failed.source == "web"
    assert "wrong" not in str(failed.detail)
    response = client.post(reverse("login"), {"username": "rad", "password": "correct-horse-42"})
    assert response.status_code == 302
    login = AuditEvent.objects.get(action="auth.login")
    assert login.actor == radiologist and login.source == "web" and login.ip_address == "127.0.0.1"
