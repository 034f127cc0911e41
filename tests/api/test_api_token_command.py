"""``manage.py api_token``: create prints the value alone, list shows the table, revoke by prefix."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from api.models import ApiToken
from api.services.tokens import token_create
from cases.models import AuditEvent

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("api_token", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_value_alone(integration):
    out, err = _run(
        "create", "--user", "pacs", "--name", "PACS router", "--scopes", "read,upload", "--days", "10",
        "--rate", "600",
    )  # fmt: skip
    value = out.strip()
    assert out == value + "\n" and value.startswith("onc_")
    token = ApiToken.objects.get()
    assert token.prefix in err and "not shown again" in err and err.count("\n") == 1
    assert token.scopes == ["read", "upload"] and token.rate_per_minute == 600
    assert timedelta(days=9) < token.expires_at - timezone.now() <= timedelta(days=10)
    event = AuditEvent.objects.get(action="api_token.created")
    assert event.source == "cli"
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {value}").get("/api/v1/me/").status_code == 200


def test_create_uses_the_default_lifetime(integration, settings):
    settings.API_TOKEN_DEFAULT_DAYS = 7
    _run("create", "--user", "pacs", "--name", "x", "--scopes", "read")
    lifetime = ApiToken.objects.get().expires_at - timezone.now()
    assert timedelta(days=6) < lifetime <= timedelta(days=7)


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["create", "--user", "ghost", "--name", "x", "--scopes", "read"], "no user 'ghost'"),
        (["create", "--user", "pacs", "--name", "x", "--scopes", "read,delete"], "unknown scope"),
        (["create", "--user", "pacs", "--name", "x", "--scopes", "read", "--days", "0"], "at least 1"),
        (["create", "--user", "pacs", "--name", "x", "--scopes", "read", "--days", "9999"], "lives between"),
        (["create", "--user", "pacs", "--name", "x", "--scopes", "read", "--rate", "0"], "at least 1"),
        (["revoke", "deadbeef"], "no token with prefix 'deadbeef'"),
        (["list", "--user", "ghost"], "no user 'ghost'"),
    ],
)
def test_bad_input_is_a_one_line_command_error(integration, args, reason):
    with pytest.raises(CommandError, match=reason) as caught:
        _run(*args)
    assert "\n" not in str(caught.value)
    assert not ApiToken.objects.exists()


def test_list_and_revoke(integration, radiologist):
    active = token_create(user=integration, name="PACS router", scopes="read,upload").token
    other = token_create(user=radiologist, name="script", scopes="read").token
    old = token_create(user=integration, name="old", scopes="read").token
    ApiToken.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=1))

    out, _ = _run("list")
    header, *rows = out.splitlines()
    assert header.split() == ["PREFIX", "NAME", "USER", "SCOPES", "STATE", "EXPIRES", "LAST", "USED"]
    assert {row.split()[0] for row in rows} == {active.prefix, other.prefix}
    assert "read,upload" in out and "never" in out
    out, _ = _run("list", "--user", "pacs", "--all")
    assert {row.split()[0] for row in out.splitlines()[1:]} == {active.prefix, old.prefix}
    assert "expired" in out

    out, _ = _run("revoke", active.prefix)
    assert f"token {active.prefix}" in out and "revoked" in out
    active.refresh_from_db()
    assert active.state == "revoked"
    assert AuditEvent.objects.get(action="api_token.revoked").source == "cli"
    out, _ = _run("revoke", active.prefix)  # idempotent
    assert "already revoked" in out
    assert active.prefix not in _run("list")[0]
    assert "revoked" in _run("list", "--all")[0]


def _env(path) -> dict[str, str]:
    return dict(line.removeprefix("export ").split("=", 1) for line in path.read_text().splitlines())


def test_demo_tokens_are_made_once_and_kept_in_a_private_env_file(
    integration, make_user, site, settings, tmp_path
):
    settings.VAR_DIR = tmp_path
    demo_reader = make_user("reviewer", "Reviewer", site)
    out = _run("demo")[0]
    kept = tmp_path / "demo-api-tokens.env"
    assert kept.read_text() == out and all(line.startswith("export ") for line in out.splitlines())
    assert kept.stat().st_mode & 0o777 == 0o600
    values = _env(kept)
    assert set(values) == {"ONCO_TOKEN", "ONCO_REVIEW_TOKEN"}
    pacs_token = ApiToken.objects.get(user=integration)
    assert (pacs_token.name, pacs_token.scopes) == ("demo", ["read", "upload"])
    assert ApiToken.objects.get(user=demo_reader).scopes == ["read", "review"]
    for value in values.values():
        assert APIClient(HTTP_AUTHORIZATION=f"Bearer {value}").get("/api/v1/me/").status_code == 200

    assert _run("demo")[0] == out  # idempotent: the same tokens again
    assert ApiToken.objects.count() == 2

    # Revoked (or the file lost): a new one replaces it, and a lost usable one is revoked.
    from api.services.tokens import token_revoke

    token_revoke(token=pacs_token)
    second = _env_of(_run("demo")[0])
    assert (
        second["ONCO_TOKEN"] != values["ONCO_TOKEN"]
        and second["ONCO_REVIEW_TOKEN"] == values["ONCO_REVIEW_TOKEN"]
    )
    kept.unlink()
    third = _env_of(_run("demo")[0])
    assert third["ONCO_TOKEN"] not in (values["ONCO_TOKEN"], second["ONCO_TOKEN"])
    assert ApiToken.objects.filter(name="demo", revoked_at=None).count() == 2
    assert AuditEvent.objects.filter(action="api_token.created", source="cli").count() == 5


def _env_of(text: str) -> dict[str, str]:
    return dict(line.removeprefix("export ").split("=", 1) for line in text.splitlines())


def test_demo_token_is_refused_in_production(integration, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="refused in production"):
        _run("demo")
    assert not ApiToken.objects.exists() and not (tmp_path / "demo-api-tokens.env").exists()


def test_demo_token_needs_the_demo_login(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    with pytest.raises(CommandError, match="setup_demo"):
        _run("demo")
