"""bench/load.py end to end, small: gunicorn + PostgreSQL + Redis + a Celery worker, nothing lost.

It asserts zero errors and zero lost studies, never a time (the numbers go to docs/reliability.md).
The bench drops and creates its own database (``<the test database's name>_load``) and empties
the Redis database ONCOPORTAL_LOAD_REDIS_URL, default database 15 of the broker's server (not the
broker's own: a test worker still reading it would take the bench's tasks).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from urllib.parse import urlparse

import pytest
from django.conf import settings

from tests.conftest import REPO, require_service
from tests.worker import redis_available, redis_url

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _load_database_url() -> str:
    db = settings.DATABASES["default"]
    require_service(
        "PostgreSQL", db["ENGINE"] == "django.db.backends.postgresql", "DATABASE_URL is not PostgreSQL"
    )
    auth = str(db["USER"]) + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}_load"


def _load_redis_url() -> str:
    explicit = os.environ.get("ONCOPORTAL_LOAD_REDIS_URL")
    if explicit:
        return explicit
    broker = urlparse(redis_url())
    return f"redis://{broker.netloc}/15"


def test_three_uploaders_for_ten_seconds_lose_nothing():
    require_service("gunicorn", importlib.util.find_spec("gunicorn") is not None, "pip install '.[prod]'")
    database_url, broker_url = _load_database_url(), _load_redis_url()
    require_service("Redis", redis_available(broker_url), broker_url)
    result = subprocess.run(
        [
            sys.executable, str(REPO / "bench" / "load.py"), "--duration", "10", "--uploaders", "3",
            "--prediction-wait", "300", "--web-workers", "2",
            "--database-url", database_url, "--redis-url", broker_url,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr[-3000:]
    assert result.returncode == 0, output
    assert "errors 0   lost 0" in result.stdout, output
    uploads = int(result.stdout.split("uploads ", 1)[1].split()[0])
    assert uploads >= 3, output  # each uploader got at least one study through
