"""PostgreSQL stopped and started under load (issue 24): web and worker reconnect, nothing is lost or doubled.

The test makes a private cluster (``initdb`` in a temporary folder, a free port; never the
machine's own server), migrates it, and points three processes at it: a real web server
(``manage.py runserver``, one thread, so it keeps one persistent connection as a sync
gunicorn worker does: CONN_MAX_AGE with health checks), a real worker with beat, and this
process (setup and checks). A stream of single-image uploads goes to ``POST /api/v1/studies/``;
after the first third, with the worker busy, the cluster is stopped (``pg_ctl stop -m fast``:
every connection cut), two uploads are tried against the stopped database, and it is started
again; the rest of the stream follows. An upload made while the database is down must get a
clear 503 and store nothing; every other must be 201. At the end each image has exactly one
prediction, DONE, with one saliency file. Recovery times are reported.
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
from tests.conftest import require_service
from tests.faults.conftest import FAULT_WORKER_ENV, report_recovery
from tests.faults.processes import PG_BIN, PrivateCluster, free_port, private_cluster
from tests.faults.test_redis_stop import assert_one_done_prediction_and_map_per_image
from tests.worker import REPO, redis_available, redis_url, wait_for, worker_sharing_media

pytestmark = [pytest.mark.faults, pytest.mark.services, pytest.mark.slow]

REDIS_DB = 11
STREAM = 18  # uploads: a third before the stop, two while stopped, the rest after


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
    paths = sorted((data_dir / "brain_mri" / "train" / "meningioma").glob("*.jpg"))[:STREAM]
    with private_cluster() as cluster, django_db_blocker.unblock():
        cluster.create_database("oncoportal")
        database = cluster.url("oncoportal")
        with default_database(database):
            call_command("migrate", verbosity=0)
            token = _seed(random_bundle)
            with worker_sharing_media(
                settings=settings, tmp_path=tmp_path, url=broker, beat=True, extra_env=FAULT_WORKER_ENV
            ) as worker:
                web_env = {
                    "DATABASE_URL": database,
                    "CELERY_BROKER_URL": broker,
                    "ONCOPORTAL_VAR_DIR": str(tmp_path / "var"),
                }
                with web_process(env=web_env, log_path=tmp_path / "web.log") as base:
                    session = requests.Session()
                    session.headers["Authorization"] = f"Bearer {token}"

                    def upload(path: Path) -> requests.Response:
                        return session.post(
                            f"{base}/api/v1/studies/",
                            data={"task": "brain_mri"},
                            files={"files": (path.name, path.read_bytes(), "image/jpeg")},
                            timeout=120,
                        )

                    for path in paths[: STREAM // 3]:
                        response = upload(path)
                        assert response.status_code == 201, (response.status_code, response.text[:500])
                    busy = Prediction.objects.exclude(status=Prediction.Status.DONE).count()
                    cluster.stop()
                    refused = [upload(path) for path in paths[STREAM // 3 : STREAM // 3 + 2]]
                    cluster.start()
                    back_at = time.monotonic()
                    connections["default"].close()  # this process's own connection was cut too
                    assert Image.objects.count() == STREAM // 3  # the two refused stored nothing
                    for response in refused:
                        assert response.status_code == 503, (response.status_code, response.text[:500])
                        assert response.json()["code"] == "database_unavailable", response.text[:500]
                        assert response.headers["Retry-After"]
                    web_back_s = 0.0
                    for i, path in enumerate(paths[STREAM // 3 :]):
                        response = upload(path)
                        assert response.status_code == 201, (response.status_code, response.text[:500])
                        if i == 0:
                            web_back_s = time.monotonic() - back_at
                    assert Image.objects.count() == STREAM  # the refused two went in when sent again
                    wait_for(
                        lambda: Prediction.objects.filter(status=Prediction.Status.DONE).count() == STREAM,
                        timeout=150,
                        what=f"{STREAM} predictions done after PostgreSQL came back",
                        log_path=worker.log_path,
                    )
                    recovered_s = time.monotonic() - back_at
            assert_one_done_prediction_and_map_per_image(tmp_path / "var" / "media")
    report_recovery(
        "PostgreSQL stopped and started under load",
        f"{STREAM} uploads; {busy} predictions in flight at the stop; 2 uploads while down answered 503 "
        f"and stored nothing; first upload after the start 201 in {web_back_s:.2f} s; every image "
        f"predicted once {recovered_s:.1f} s after PostgreSQL came back",
    )
