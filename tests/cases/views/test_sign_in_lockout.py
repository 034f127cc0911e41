"""Issue 24 item 5: repeated wrong passwords lock the username (django-axes), with a clear page and audit."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from cases.models import AuditEvent

pytestmark = pytest.mark.django_db

RIGHT = "correct-horse-42"  # the radiologist fixture's password (tests/conftest.py)


def _sign_in(client, username, password, url=None):
    return client.post(url or reverse("login"), {"username": username, "password": password})


def test_the_right_password_is_refused_once_the_failure_limit_is_reached(client, radiologist, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "rad", "wrong")
    response = _sign_in(client, "rad", RIGHT)
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many wrong passwords" in body and "15 minutes" in body
    assert "_auth_user_id" not in client.session
    # The failures and the lockout are in the audit trail, with the username tried.
    # Each wrong password, and the refused right one, is a failed sign-in.
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == settings.AXES_FAILURE_LIMIT + 1
    # The lock, when the limit is reached and again for each attempt it refuses.
    locked = list(AuditEvent.objects.filter(action="auth.locked_out"))
    assert locked and all(e.detail == {"username": "rad"} and e.source == "web" for e in locked)
    assert not AuditEvent.objects.filter(action="auth.login").exists()


def test_thirty_wrong_passwords_then_the_right_one_does_not_sign_in(client, radiologist):
    # The probe's exact sequence: before django-axes the 31st attempt signed in at once.
    for _ in range(30):
        _sign_in(client, "rad", "wrong")
    assert _sign_in(client, "rad", RIGHT).status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_admin_sign_in_is_locked_too(client, radiologist, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "rad", "wrong", url=reverse("admin:login"))
    assert _sign_in(client, "rad", RIGHT).status_code == 429


def test_other_accounts_still_sign_in_and_an_administrator_can_unlock(
    client, radiologist, reviewer, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _sign_in(client, "rad", "wrong")
    other = _sign_in(client, reviewer.username, RIGHT)
    assert other.status_code == 302  # a lock on one username shuts out no one else
    client.logout()
    call_command("axes_reset_username", "rad")
    assert _sign_in(client, "rad", RIGHT).status_code == 302


def test_a_right_password_before_the_limit_starts_the_count_again(client, radiologist, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, "rad", "wrong")
    assert _sign_in(client, "rad", RIGHT).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _sign_in(client, "rad", "wrong")
    assert _sign_in(client, "rad", RIGHT).status_code == 302
