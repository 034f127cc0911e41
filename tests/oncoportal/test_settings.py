"""Settings come from the environment, strictly; production mode has no insecure default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from oncoportal.env import database_from_url, env_bool, env_int, env_str

REPO = Path(__file__).resolve().parents[2]


def test_env_parsing_is_strict(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL='maybe'"):
        env_bool("X_BOOL")
    monkeypatch.setenv("X_INT", "12a")
    with pytest.raises(ImproperlyConfigured, match="expected an integer"):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("X_INT", 5, minimum=1)
    with pytest.raises(ImproperlyConfigured, match="X_MISSING is required"):
        env_str("X_MISSING")


def test_secret_from_file(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("X_SECRET_FILE", str(secret))
    assert env_str("X_SECRET") == "from-a-file"
    monkeypatch.setenv("X_SECRET_FILE", str(tmp_path / "nope"))
    with pytest.raises(ImproperlyConfigured, match="cannot read file"):
        env_str("X_SECRET")


def test_database_url():
    pg = database_from_url("postgres://u:p%40ss@db.example:5433/onco?sslmode=require")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "onco",
        "u",
        "p@ss",
        "db.example",
        "5433",
    )
    assert pg["OPTIONS"] == {"sslmode": "require"}
    sqlite = database_from_url("sqlite:////tmp/x.db")
    assert sqlite["NAME"] == "/tmp/x.db"
    # A worker given the test database by URL writes as the default SQLite does (concurrent writers).
    assert sqlite["OPTIONS"]["transaction_mode"] == "IMMEDIATE" and sqlite["OPTIONS"]["timeout"] == 30
    with pytest.raises(ImproperlyConfigured, match="unsupported scheme"):
        database_from_url("mysql://x/y")
    with pytest.raises(ImproperlyConfigured, match="no database name"):
        database_from_url("postgres://host")


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "ONCOPORTAL_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_requires_a_secret_key(tmp_path):
    result = _manage("check", env={"ONCOPORTAL_PRODUCTION": "1", "ONCOPORTAL_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY is required but not set" in result.stderr


STRONG = {
    "SECRET_KEY": "k8Zq1!vR7#pL2@xW9$mN4%tB6^yH3&cJ5*fD0(gS8)aE1_uQ7+oI2=eT4-rY6",
    "ONCOPORTAL_PSEUDONYM_KEY": "another-long-random-value-for-pseudonyms",
    "ALLOWED_HOSTS": "oncoportal.example.org",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # Issue 24 item 7: each of these was accepted in production before.
        ({"ONCOPORTAL_PSEUDONYM_KEY": "secret"}, "ONCOPORTAL_PSEUDONYM_KEY is too weak"),
        ({"ONCOPORTAL_PSEUDONYM_KEY": "a" * 64}, "ONCOPORTAL_PSEUDONYM_KEY is too weak"),
        (
            {"ONCOPORTAL_PSEUDONYM_KEY": "oncoportal-development-pseudonym-key"},
            "must not be the same as the development key",
        ),
        ({"ONCOPORTAL_PSEUDONYM_KEY": STRONG["SECRET_KEY"]}, "must not be the same as SECRET_KEY"),
        ({"SECRET_KEY": "short-but-not-that-short-0123456789"}, "SECRET_KEY is too weak"),
        ({"ALLOWED_HOSTS": "*"}, "ALLOWED_HOSTS must name the hosts"),
        ({"ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS is required in production"),
        ({"ONCOPORTAL_PSEUDONYM_KEY": None}, "ONCOPORTAL_PSEUDONYM_KEY is required but not set"),
    ],
)
def test_production_refuses_weak_or_missing_settings_in_one_line(tmp_path, change, message):
    env = {"ONCOPORTAL_PRODUCTION": "1", "ONCOPORTAL_VAR_DIR": str(tmp_path), **STRONG, **change}
    result = _manage("check", env={k: v for k, v in env.items() if v is not None})
    assert result.returncode == 2
    assert message in result.stderr
    # One line naming the variable, not a 55-line traceback.
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_production_passes_check_deploy(tmp_path):
    env = {
        "ONCOPORTAL_PRODUCTION": "1",
        "ONCOPORTAL_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "k8Zq1!vR7#pL2@xW9$mN4%tB6^yH3&cJ5*fD0(gS8)aE1_uQ7+oI2=eT4-rY6",
        "ONCOPORTAL_PSEUDONYM_KEY": "another-long-random-value-for-pseudonyms",
        "ALLOWED_HOSTS": "oncoportal.example.org",
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_bad_value_stops_start_up_with_one_line(tmp_path):
    result = _manage("check", env={"ONCOPORTAL_MAX_PIXELS": "lots", "ONCOPORTAL_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "ONCOPORTAL_MAX_PIXELS='lots': expected an integer" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_configuration_error_stops_a_worker_and_the_web_app_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SECRET_KEY", "ONCOPORTAL_", "DJANGO_"))}
    env.update({"ONCOPORTAL_MAX_PIXELS": "lots", "ONCOPORTAL_VAR_DIR": str(tmp_path)})
    for module in ("oncoportal.wsgi", "oncoportal.celery"):
        result = subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 2, (module, result.stderr)
        assert result.stderr.strip().splitlines() == [
            "oncoportal: configuration error: ONCOPORTAL_MAX_PIXELS='lots': expected an integer"
        ], result.stderr


def test_a_malformed_reid_key_stops_start_up_with_one_line(tmp_path):
    result = _manage("check", env={"ONCOPORTAL_REID_KEY": "too-short", "ONCOPORTAL_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "ONCOPORTAL_REID_KEY: a Fernet key (32 random bytes, urlsafe base64) is expected" in result.stderr


def test_s3_storage_is_configured_from_the_environment(tmp_path):
    # No S3 endpoint is reachable here, so this checks the wiring only (said in README "Tests").
    script = (
        "from django.core.files.storage import default_storage as s;"
        "print(type(s._wrapped if hasattr(s, '_wrapped') else s).__name__);"
        "s._setup() if hasattr(s, '_setup') else None;"
        "w = s._wrapped; print(w.bucket_name, w.location, w.default_acl, w.querystring_auth)"
    )
    env = {
        "ONCOPORTAL_VAR_DIR": str(tmp_path),
        "ONCOPORTAL_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": "oncoportal-images",
        "AWS_S3_ENDPOINT_URL": "http://127.0.0.1:9",
    }
    result = _manage("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    assert "oncoportal-images oncoportal None True" in result.stdout
    missing = _manage("check", env={"ONCOPORTAL_VAR_DIR": str(tmp_path), "ONCOPORTAL_STORAGE": "s3"})
    assert missing.returncode != 0
    assert "AWS_STORAGE_BUCKET_NAME is required but not set" in missing.stderr
    bad = _manage("check", env={"ONCOPORTAL_VAR_DIR": str(tmp_path), "ONCOPORTAL_STORAGE": "ftp"})
    assert "ONCOPORTAL_STORAGE='ftp': expected one of local, s3" in bad.stderr
