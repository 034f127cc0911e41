"""`manage.py check --deploy` is clean under production settings (issue 24)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# What an operator sets (README "Configuration"); the DEBUG/HSTS/redirect overrides are left unset.
_CLEARED = ("SECRET_KEY", "ONCOPORTAL_", "DJANGO_", "DEBUG", "SECURE_", "ALLOWED_HOSTS")


def _check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production_env(var_dir: Path) -> dict[str, str]:
    return {
        "ONCOPORTAL_PRODUCTION": "1",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ONCOPORTAL_PSEUDONYM_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "oncoportal.example",
        "ONCOPORTAL_VAR_DIR": str(var_dir),
    }


def test_check_deploy_is_clean_behind_a_tls_proxy(tmp_path):
    """As `make audit` runs it (test_settings.py::test_production_passes_check_deploy: no proxy)."""
    result = _check_deploy({**_production_env(tmp_path), "ONCOPORTAL_BEHIND_PROXY": "1"})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues" in output
    assert "WARNINGS" not in output and "security.W" not in output


def test_check_deploy_fails_on_a_weakened_production_setting(tmp_path):
    """The same command does fail when a deploy check has something to say: the test above is live."""
    result = _check_deploy({**_production_env(tmp_path), "SECURE_HSTS_SECONDS": "0"})
    assert result.returncode != 0
    assert "security.W004" in result.stderr
