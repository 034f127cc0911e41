"""A real Celery worker process sharing the test database, broker and files.

The worker runs `celery -A oncoportal worker` as a subprocess with the test
database's connection settings, a Redis broker (the production broker; the
embedded filesystem broker is covered by `make run`) and the test's media
folder, so a test sees exactly what production would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.db import connection

from oncoportal import celery_config
from oncoportal.celery import app

REPO = Path(__file__).resolve().parent.parent


def redis_url(db: int = 13) -> str:
    """CI's Redis broker URL, else a local Redis database of the caller's own (each test module flushes its own)."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    return url if url.startswith("redis://") else f"redis://127.0.0.1:6379/{db}"


def redis_available(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


def test_database_url() -> str:
    s = connection.settings_dict
    if s["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{Path(s['NAME']).resolve()}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s["PASSWORD"] else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@contextmanager
def use_broker(url: str) -> Iterator[None]:
    """Point this process's Celery producer at ``url`` and start from empty queues."""
    old_url, old_options = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url = url  # type: ignore[misc]  # celery-types makes it read-only; Celery sets it
    app.conf.broker_transport_options = {"visibility_timeout": 3600}
    _reset_pools()
    import redis

    redis.Redis.from_url(url).flushdb()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.broker_transport_options = old_url, old_options  # type: ignore[misc]
        _reset_pools()


def _reset_pools() -> None:
    # Celery and kombu cache connections made with the old URL (app, amqp, kombu's globals).
    # The caches are private attributes, which the stubs (rightly) do not declare.
    import kombu.pools

    if app._pool is not None:  # type: ignore[attr-defined]
        app._pool.force_close_all()  # type: ignore[attr-defined]
        app._pool = None  # type: ignore[attr-defined]
    app.amqp._producer_pool = None  # type: ignore[attr-defined]
    kombu.pools.reset()


@contextmanager
def worker_process(
    *,
    broker_url: str,
    var_dir: Path,
    log_path: Path,
    queues: tuple[str, ...] = celery_config.WORKERS["all"],
    new_session: bool = False,
    extra_env: dict[str, str] | None = None,
    name: str = "",
    beat: bool = False,
    pool: str = "solo",
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker reading ``queues`` (the "all" worker's unless told); ``new_session`` gives it its own
    process group, which a test may SIGKILL whole (a training worker with its trainer); ``name``
    tells apart two workers of one test on the same queues (Celery wants unique node names);
    ``beat`` runs celery beat in it (the sweepers), its schedule file in ``var_dir``;
    ``pool="prefork"`` runs the tasks in one child process, as production does, which a test may
    SIGKILL alone (the main process forks a new one)."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": broker_url,
        "ONCOPORTAL_VAR_DIR": str(var_dir),
        "DJANGO_SETTINGS_MODULE": "oncoportal.settings",
        **(extra_env or {}),
    }
    cmd = [
        sys.executable, "-m", "celery", "-A", "oncoportal", "worker", "-Q", ",".join(queues),
        "--pool", pool, "--concurrency", "1", "--without-gossip", "--without-mingle",
        "--hostname", f"test-{os.getpid()}-{name or queues[0]}@%h", "--loglevel", "INFO",
    ]  # fmt: skip
    if beat:
        cmd += ["--beat", "--schedule", str(var_dir / "celerybeat-schedule")]
    log = log_path.open("wb")
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=new_session
    )
    try:
        deadline = time.monotonic() + 120
        while b"ready." not in log_path.read_bytes():
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def wait_for(
    predicate, *, timeout: float = 180, what: str = "condition", log_path: Path | None = None
) -> None:
    """Poll until ``predicate()`` is true; a bounded wait, not a timing assertion."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    tail = log_path.read_text()[-4000:] if log_path and log_path.exists() else ""
    raise AssertionError(f"gave up waiting for {what}\n{tail}")


@contextmanager
def worker_sharing_media(
    *, settings, tmp_path: Path, url: str, **options: Any
) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker on Redis ``url`` whose media folder is this process's too (the live server's, the test's).

    Skips, or fails under ONCOPORTAL_REQUIRE_SERVICES=1, without Redis. The
    process gets a ``log_path`` attribute for waits that print its log.
    ``options`` go to :func:`worker_process` (queues, new_session, extra_env, name, beat).
    """
    from tests.conftest import require_service

    require_service("Redis", redis_available(url), url)
    var_dir = tmp_path / "var"
    media = var_dir / "media"
    media.mkdir(parents=True)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media)},
        },
    }
    log_path = tmp_path / "worker.log"
    with (
        use_broker(url),
        worker_process(broker_url=url, var_dir=var_dir, log_path=log_path, **options) as proc,
    ):
        proc.log_path = log_path  # type: ignore[attr-defined]
        yield proc
