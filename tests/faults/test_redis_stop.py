"""Redis stopped during an upload burst (issue 24): intake goes on, nothing is lost, nothing is done twice.

A private ``redis-server`` (no persistence) is the broker and the cache of a real worker
(with beat, so the sweepers run) and of the web intake (Django's test client, this process).
Of a burst of single-image uploads, the first third go in with Redis up, the second third
while it is stopped (``SHUTDOWN NOSAVE``: the queued messages are lost with it, as in a Redis
without AOF), the last third after it is back, empty. Every upload must be stored and answered
without a server error; the sweeper re-sends what the broker lost; at the end each image has
exactly one prediction, DONE, with one saliency file. The recovery time (Redis back to every
image done) is reported.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cases.models import Case, CaseStatus, Image
from inference.models import Prediction
from oncoportal.cache import redis_cache
from tests.conftest import require_service
from tests.faults.conftest import FAULT_WORKER_ENV, report_recovery
from tests.faults.processes import PrivateRedis, private_redis
from tests.worker import wait_for, worker_sharing_media

pytestmark = [pytest.mark.faults, pytest.mark.services, pytest.mark.slow]

BURST = 18  # uploads: a third before the stop, a third while Redis is down, a third after


def _upload(client, path: Path):
    return client.post(
        reverse("cases:upload"),
        {"task": "brain_mri", "files": [SimpleUploadedFile(path.name, path.read_bytes(), "image/jpeg")]},
        HTTP_ACCEPT="application/json",
    )


def assert_one_done_prediction_and_map_per_image(media: Path) -> None:
    """Every image: one prediction, DONE, and one saliency file under its own name; no strays."""
    images = list(Image.objects.values_list("pk", flat=True))
    predictions = list(Prediction.objects.all())
    assert sorted(p.image_id for p in predictions) == sorted(images)  # exactly one each
    for p in predictions:
        assert p.status == Prediction.Status.DONE and p.label, (p.pk, p.status, p.error)
        files = sorted(f.name for f in (media / "predictions" / str(p.pk)).iterdir())
        assert files == ["cam.png"], (p.pk, files)
        assert p.saliency_raw.name == f"predictions/{p.pk}/cam.png"
    assert sorted(f.name for f in (media / "predictions").iterdir()) == sorted(str(p.pk) for p in predictions)
    assert set(Case.objects.values_list("status", flat=True)) == {CaseStatus.PREDICTED}


def test_uploads_survive_a_redis_stop_and_every_image_is_predicted_once(
    transactional_db, settings, tmp_path, client, random_model, data_dir, site, radiologist
):
    require_service("redis-server", PrivateRedis.available(), "redis-server and redis-cli on PATH")
    paths = sorted((data_dir / "brain_mri" / "train" / "glioma").glob("*.jpg"))[:BURST]
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    with private_redis(redis_dir) as redis:
        # The web process's cache is the broker's Redis too, as settings make it in production.
        settings.CACHES = {"default": redis_cache(redis.url)}
        with worker_sharing_media(
            settings=settings, tmp_path=tmp_path, url=redis.url, beat=True, extra_env=FAULT_WORKER_ENV
        ) as worker:
            client.force_login(radiologist)
            answers: list[tuple[str, int, float]] = []
            back_at = 0.0
            for i, path in enumerate(paths):
                if i == BURST // 3:
                    redis.stop()
                elif i == 2 * BURST // 3:
                    redis.start()
                    back_at = time.monotonic()
                phase = "down" if BURST // 3 <= i < 2 * BURST // 3 else "up"
                t0 = time.monotonic()
                response = _upload(client, path)
                answers.append((phase, response.status_code, time.monotonic() - t0))
                assert response.status_code == 200, (phase, response.status_code, response.content[:500])
                assert "result_url" in response.json()

            assert Image.objects.count() == BURST  # every upload stored, broker or not
            wait_for(
                lambda: Prediction.objects.filter(status=Prediction.Status.DONE).count() == BURST,
                timeout=150,
                what=f"{BURST} predictions done after Redis came back",
                log_path=worker.log_path,
            )
            recovered_s = time.monotonic() - back_at

    media = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    assert_one_done_prediction_and_map_per_image(media)
    slowest_down = max(s for phase, _, s in answers if phase == "down")
    report_recovery(
        "Redis stopped during an upload burst",
        f"{BURST} uploads ({BURST // 3} while Redis was down, all 200); every image predicted once "
        f"{recovered_s:.1f} s after Redis came back; slowest upload while down {slowest_down:.2f} s",
    )
