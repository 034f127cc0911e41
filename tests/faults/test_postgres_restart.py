"""PostgreSQL stopped and started under load (issue 24): web and worker reconnect, nothing is lost or doubled.

The test makes a private cluster (``initdb`` in a temporary folder, a free port; never the
machine's own server), migrates it, and points three processes at it: a real web server
(``manage.py runserver``, one thread, so it keeps one persistent connection as a sync
gunicorn worker does: CONN_MAX_AGE with health checks), a real worker with beat (one image
per batch), and this process (setup and checks). Uploads go to ``POST /api/v1/studies/``: six
single images, then a 7-image MR series; while the series' task holds its claimed rows the
cluster is stopped (``pg_ctl stop -m fast``: every connection cut), two uploads are tried
against the stopped database, and it is started again; the other single images follow. An
upload made while the database is down must get a clear 503 and store nothing, and so must a
sign-in on the web pages; every other must be 201. At the end each image has exactly one prediction, DONE, with one saliency file.
Recovery times are reported.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.db import connections
from django.db.backends.postgresql.base import DatabaseWrapper

from cases.models import Image, Site, User
from inference.models import Prediction
from oncoportal.env import database_from_url
from tests.conftest import MR_SERIES, require_service
from tests.faults.conftest import FAULT_WORKER_ENV, report_recovery
from tests.faults.processes import PG_BIN, PrivateCluster, free_port, private_cluster
from tests.faults.test_redis_stop import assert_one_done_prediction_and_map_per_image
from tests.worker import REPO, redis_available, redis_url, wait_for, worker_sharing_media

pytestmark = [pytest.mark.faults, pytest.mark.services, pytest.mark.slow]

REDIS_DB = 11
SINGLES = 18  # single-image uploads: 6 before the stop, 2 while stopped (then again), 10 after
# One batch per image, so the 7-image series' task holds claimed rows for a few seconds.
WORKER_ENV = {**FAULT_WORKER_ENV, "ONCOPORTAL_BATCH_SIZE": "1"}


@contextmanager
def default_database(url: str) -> Iterator[None]:
    """This process's default connection on the database at ``url`` (the private cluster), then back."""
    old = connections["default"]
    wrapper = DatabaseWrapper({**old.settings_dict, **database_from_url(url, conn_max_age=0)}, "default")
    connections["default"] = wrapper
    try:
        yield
    finally:
        wrapper.close()
        connections["default"] = old


@contextmanager
def web_process(*, env: dict[str, str], log_path: Path) -> Iterator[str]:
    """``manage.py runserver`` without threads: one connection kept between requests."""
    port = free_port()
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", "--nothreading", f"127.0.0.1:{port}"],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"web server exited:\n{log_path.read_text()[-3000:]}")
            try:
                return requests.get(f"{base}/api/v1/", timeout=5).status_code < 500
            except requests.ConnectionError:
                return False

        wait_for(answers, timeout=60, what="the web server", log_path=log_path)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _when_running() -> int:
    """Wait (polling fast: a batch takes a fraction of a second) until the series' rows are claimed; how many."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        running = Prediction.objects.filter(status=Prediction.Status.RUNNING).count()
        if running >= 2:  # only the series' task claims several rows at once
            return running
        time.sleep(0.01)
    raise AssertionError("the worker never started the series")


def _seed(bundle: Path) -> str:
    """A site, a Radiologist with an upload token, the random model active; returns the token."""
    from django.contrib.auth.models import Group

    from api.services.tokens import token_create
    from inference.services import model_version_activate, model_version_register

    site = Site.objects.create(code="uh-radiology", name="University Hospital Radiology")
    user = User.objects.create_user(username="rad", password="correct-horse-42", site=site)
    user.groups.add(Group.objects.get(name="Radiologist"))
    version, _ = model_version_register(bundle_dir=bundle)
    model_version_activate(version=version)
    return token_create(user=user, name="faults", scopes="read,upload", expires_in=timedelta(days=1)).value


def test_web_and_worker_recover_from_a_postgres_restart_and_predict_every_image_once(
    settings, tmp_path, django_db_blocker, random_bundle, data_dir
):
    require_service("PostgreSQL server binaries", PrivateCluster.available(), f"initdb, pg_ctl in {PG_BIN}")
    broker = redis_url(REDIS_DB)
    require_service("Redis", redis_available(broker), broker)
    singles = sorted((data_dir / "brain_mri" / "train" / "meningioma").glob("*.jpg"))[:SINGLES]
    series = sorted((data_dir / MR_SERIES).iterdir())
    total = SINGLES + len(series)
    with private_cluster() as cluster, django_db_blocker.unblock():
        cluster.create_database("oncoportal")
        database = cluster.url("oncoportal")
        with default_database(database):
            call_command("migrate", verbosity=0)
            token = _seed(random_bundle)
            with worker_sharing_media(
                settings=settings, tmp_path=tmp_path, url=broker, beat=True, extra_env=WORKER_ENV
            ) as worker:
                web_env = {
                    "DATABASE_URL": database,
                    "CELERY_BROKER_URL": broker,
                    "ONCOPORTAL_VAR_DIR": str(tmp_path / "var"),
                    "DEBUG": "0",  # the error pages a user gets, not Django's debug page
                }
                with web_process(env=web_env, log_path=tmp_path / "web.log") as base:
                    session = requests.Session()
                    session.headers["Authorization"] = f"Bearer {token}"

                    def upload(*paths: Path) -> requests.Response:
                        return session.post(
                            f"{base}/api/v1/studies/",
                            data={"task": "brain_mri"},
                            files=[
                                ("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths
                            ],
                            timeout=120,
                        )

                    for path in singles[:6]:
                        response = upload(path)
                        assert response.status_code == 201, (response.status_code, response.text[:500])
                    # The series is one task of 7 predictions, one batch each: stop while it runs.
                    response = upload(*series)
                    assert response.status_code == 201, (response.status_code, response.text[:500])
                    browser = requests.Session()
                    browser.get(f"{base}/login/", timeout=30).raise_for_status()
                    sign_in = {
                        "username": "rad",
                        "password": "correct-horse-42",
                        "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                    }
                    running = _when_running()
                    cluster.stop()
                    refused = [upload(path) for path in singles[6:8]]
                    page = browser.post(f"{base}/login/", data=sign_in, timeout=30, allow_redirects=False)
                    cluster.start()
                    back_at = time.monotonic()
                    connections["default"].close()  # this process's own connection was cut too
                    assert Image.objects.count() == 6 + len(series)  # the two refused stored nothing
                    for response in refused:
                        assert response.status_code == 503, (response.status_code, response.text[:500])
                        assert response.json()["code"] == "database_unavailable", response.text[:500]
                        assert response.headers["Retry-After"]
                    assert page.status_code == 503, (page.status_code, page.text[:500])
                    assert "The database is unavailable" in page.text and page.headers["Retry-After"]
                    signed_in = browser.post(
                        f"{base}/login/", data=sign_in, timeout=30, allow_redirects=False
                    )
                    assert signed_in.status_code == 302, (signed_in.status_code, signed_in.text[:500])
                    web_back_s = 0.0
                    for i, path in enumerate(singles[6:]):
                        response = upload(path)
                        assert response.status_code == 201, (response.status_code, response.text[:500])
                        if i == 0:
                            web_back_s = time.monotonic() - back_at
                    assert Image.objects.count() == total  # the refused two went in when sent again
                    wait_for(
                        lambda: Prediction.objects.filter(status=Prediction.Status.DONE).count() == total,
                        timeout=150,
                        what=f"{total} predictions done after PostgreSQL came back",
                        log_path=worker.log_path,
                    )
                    recovered_s = time.monotonic() - back_at
            assert_one_done_prediction_and_map_per_image(tmp_path / "var" / "media")
    report_recovery(
        "PostgreSQL stopped and started under load",
        f"{SINGLES} single images and a {len(series)}-image series; stopped with {running} predictions "
        f"claimed (running); 2 uploads while down answered 503 "
        f"and stored nothing; first upload after the start 201 in {web_back_s:.2f} s; every image "
        f"predicted once {recovered_s:.1f} s after PostgreSQL came back",
    )
