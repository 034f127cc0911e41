"""dcmtk as the real peer (echoscu, storescu), against the listener in this process and as the real command."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from cases.models import AuditEvent, Case, Image
from tests.conftest import REPO, require_service
from tests.dimse.conftest import wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

# Debian's dcmtk otherwise waits about 45 ms per instance (Nagle).
DCMTK_ENV = {**os.environ, "TCP_NODELAY": "1"}


@pytest.fixture(autouse=True)
def _dcmtk() -> None:
    require_service("dcmtk", shutil.which("storescu") is not None, "apt-get install dcmtk")


def echoscu(port: int, calling: str = "PACS") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["echoscu", "-aet", calling, "-aec", "ONCOTEST", "127.0.0.1", str(port)],
        env=DCMTK_ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )


def storescu(port: int, folder: Path, calling: str = "PACS") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["storescu", "-aet", calling, "-aec", "ONCOTEST", "+sd", "127.0.0.1", str(port), str(folder)],
        env=DCMTK_ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )


def spooled(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_echoscu_succeeds(start_listener) -> None:
    listener = start_listener()
    result = echoscu(listener.port)
    assert result.returncode == 0, result.stderr


def test_storescu_of_a_series_ends_as_one_case_with_every_instance(
    start_listener, mr_series, spool_root
) -> None:
    listener = start_listener()
    result = storescu(listener.port, mr_series[0].parent)
    assert result.returncode == 0, result.stderr
    wait_until(lambda: Image.objects.count() == 7 and listener.idle(), "the study to be ingested")
    assert Case.objects.count() == 1 and Case.objects.get().images.count() == 7
    assert spooled(spool_root) == []


def test_a_calling_ae_not_allowed_is_refused(start_listener, mr_series, spool_root) -> None:
    listener = start_listener(allowed=["PACS"])
    echo = echoscu(listener.port, calling="INTRUDER")
    assert echo.returncode != 0
    assert "Calling AE Title Not Recognized" in echo.stdout + echo.stderr
    store = storescu(listener.port, mr_series[0].parent, calling="INTRUDER")
    assert store.returncode != 0
    wait_until(
        lambda: AuditEvent.objects.filter(action="dimse.association_refused").count() == 2, "the refusals"
    )
    assert Image.objects.count() == 0 and spooled(spool_root) == []
    assert echoscu(listener.port, calling="PACS").returncode == 0


def _database_url() -> str:
    """The test database, for a subprocess to use the same one."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    user = quote(db["USER"] or "")
    password = f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else ""
    return f"postgres://{user}{password}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.slow
def test_the_real_command_receives_a_series_and_stops_on_sigterm(site, mr_series, tmp_path) -> None:
    var = tmp_path / "var"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "ONCOPORTAL_VAR_DIR": str(var),
        "ONCOPORTAL_DICOM_AE_TITLE": "ONCOTEST",
        "ONCOPORTAL_DICOM_SITE": site.code,
        "ONCOPORTAL_DICOM_ALLOWED": "PACS@127.0.0.1",
    }
    log = tmp_path / "listener.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "dicom_listener", "--port", "0", "--host", "127.0.0.1"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("DICOM listener: AE title ONCOTEST, port "), line + log.read_text()
            port = int(line.split("port ")[1].split(",")[0])
            result = storescu(port, mr_series[0].parent)
            assert result.returncode == 0, result.stderr
            wait_until(
                lambda: AuditEvent.objects.filter(action="dimse.association").exists(),
                "the association's audit row",
            )
            assert Case.objects.count() == 1 and Image.objects.count() == 7
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
    text = log.read_text()
    assert "closed (association released): 7 instance(s): 7 accepted" in text
    assert "DICOM listener ONCOTEST stopped" in text
    assert spooled(var / "dicom-spool") == []
