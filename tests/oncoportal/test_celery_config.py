"""Celery queues, routes and time limits are defined once (oncoportal/celery_config.py) and everything reads them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from django.conf import settings as django_settings

import inference.tasks  # noqa: F401  (registers the tasks)
import retraining.tasks  # noqa: F401
from oncoportal import celery_config
from oncoportal.celery import app
from tests.conftest import require_service
from tests.worker import redis_available, redis_url

REPO = Path(__file__).resolve().parents[2]


def own_tasks() -> dict[str, object]:
    app.loader.import_default_modules()
    # Every task but Celery's own (celery.chord_unlock, ...): a new app's tasks are checked the day they appear.
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def routed_queue(name: str) -> str:
    return app.amqp.router.route({}, name)["queue"].name


def test_every_registered_task_is_in_the_table_and_routes_to_a_declared_queue():
    tasks = own_tasks()
    assert set(tasks) == set(celery_config.TASKS), (
        "a task without a row in celery_config.TASKS, or a stale row"
    )
    for name in tasks:
        queue = routed_queue(name)
        assert queue in celery_config.QUEUES, (name, queue)
        assert queue == celery_config.TASKS[name].queue, name


def test_every_route_matches_a_registered_task():
    tasks = own_tasks()
    for pattern in django_settings.CELERY_TASK_ROUTES:
        assert "*" not in pattern, f"route pattern {pattern!r}: name each task"
        assert pattern in tasks, f"route {pattern!r} matches no registered task"


def test_decorator_limits_equal_the_table():
    for name, task in own_tasks().items():
        spec = celery_config.TASKS[name]
        assert (task.soft_time_limit, task.time_limit) == (spec.soft_time_limit, spec.time_limit), name
    # The global limits (a task the table forgot) are the batch task's.
    run = celery_config.TASKS[celery_config.RUN_PREDICTIONS]
    assert run.time_limit == django_settings.CELERY_TASK_TIME_LIMIT
    assert run.soft_time_limit == django_settings.CELERY_TASK_SOFT_TIME_LIMIT


def test_the_tryout_worker_and_the_sweepers_read_the_table():
    from inference import pipeline
    from inference.tryout import worker

    tryout = celery_config.TASKS[celery_config.RUN_TRYOUT]
    assert (tryout.soft_time_limit, tryout.time_limit) == (worker.SOFT_TIME_LIMIT_S, worker.TIME_LIMIT_S)
    assert worker.RUN_TASK in own_tasks() and pipeline.RUN_TASK in own_tasks()
    # Lost only after the hard limit: the pool kills a task there, so only a dead worker leaves one RUNNING.
    for name in (celery_config.RUN_TRYOUT, celery_config.RUN_PREDICTIONS):
        assert celery_config.lost_after_s(name) > celery_config.TASKS[name].time_limit


def test_beat_sends_registered_tasks_to_their_routed_queue():
    tasks = own_tasks()
    for entry in django_settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in tasks
        assert entry["options"]["queue"] == routed_queue(entry["task"])


def test_every_routed_queue_has_a_worker():
    routed = {spec.queue for spec in celery_config.TASKS.values()}
    production = {queue for kind in ("gpu", "cpu", "training") for queue in celery_config.WORKERS[kind]}
    assert routed <= production, routed - production
    # `make run`'s and the tests' one worker does everything but training (its own worker).
    assert routed - {celery_config.TRAINING} <= set(celery_config.WORKERS["all"])
    assert all(set(queues) <= set(celery_config.QUEUES) for queues in celery_config.WORKERS.values())


def test_background_model_work_waits_behind_clinical_work():
    """Drift references (a minute of CPU each, queued by `make run` at start-up) have their own
    queue, read last by the GPU worker and by a niced worker of its own under `make run`."""
    assert routed_queue(celery_config.BUILD_DRIFT_REFERENCE) == celery_config.BACKGROUND
    for name in (celery_config.RUN_PREDICTIONS, celery_config.RUN_TRYOUT):
        assert routed_queue(name) != celery_config.BACKGROUND
    readers = {kind for kind, queues in celery_config.WORKERS.items() if celery_config.BACKGROUND in queues}
    assert readers == {"gpu", "all", "background"}
    for kind in readers:
        assert celery_config.WORKERS[kind][-1] == celery_config.BACKGROUND
    # `make run`: its main worker never takes background work; the two together take all but training.
    routed = {spec.queue for spec in celery_config.TASKS.values()}
    run = set(celery_config.WORKERS["run"]) | set(celery_config.WORKERS["background"])
    assert celery_config.BACKGROUND not in celery_config.WORKERS["run"]
    assert routed - {celery_config.TRAINING} <= run
    script = (REPO / "scripts" / "run.sh").read_text(encoding="utf-8")
    assert "celery_config queues run)" in script and "celery_config queues background)" in script
    assert re.search(r"nice -n \d+ \.venv/bin/celery -A oncoportal worker -Q \"\$BACKGROUND_QUEUES\"", script)


def test_on_redis_a_worker_takes_its_queues_in_priority_order():
    """With Redis a queued prediction goes before background work queued earlier (real broker)."""
    url = redis_url(db=12)
    require_service("Redis", redis_available(url))
    code = """
import django; django.setup()
from kombu import Consumer, Queue
from oncoportal import celery_config
from oncoportal.celery import app
queues = [Queue(q, routing_key=q) for q in celery_config.WORKERS["gpu"]]
with app.connection_for_write() as conn:
    for q in queues:
        q.bind(conn.default_channel).declare()
        q.bind(conn.default_channel).purge()
    producer = conn.Producer()
    # Taken in turn (kombu's default), a second prediction would go after the background work
    # once the first moved "inference" to the back of the turn.
    producer.publish({"n": "scan 1"}, routing_key=celery_config.INFERENCE)
    for i in range(3):
        producer.publish({"n": i}, routing_key=celery_config.BACKGROUND)
    producer.publish({"n": "scan 2"}, routing_key=celery_config.INFERENCE)
    got = []
    def take(body, message):
        got.append((message.delivery_info["routing_key"], body["n"]))
        message.ack()
    with Consumer(conn, queues, callbacks=[take], prefetch_count=1):
        while len(got) < 5:
            conn.drain_events(timeout=10)
    print(*[key for key, _ in got])
"""
    result = _python(code, CELERY_BROKER_URL=url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["inference", "inference", "background", "background", "background"]


def test_only_the_training_worker_trains():
    trains = {kind for kind, queues in celery_config.WORKERS.items() if celery_config.TRAINING in queues}
    assert trains == {"training"}
    assert celery_config.WORKERS["training"] == (celery_config.TRAINING,)
    assert celery_config.TASKS[celery_config.RUN_TRAINING_JOB].queue == celery_config.TRAINING
    assert routed_queue(celery_config.RUN_TRAINING_JOB) == celery_config.TRAINING
    # The training job is acknowledged on receipt (its row and the sweeper bring it back), so its
    # day-long limit does not set the Redis visibility timeout.
    assert not celery_config.TASKS[celery_config.RUN_TRAINING_JOB].acks_late
    assert own_tasks()[celery_config.RUN_TRAINING_JOB].acks_late is False
    assert celery_config.longest_time_limit() < celery_config.TASKS[celery_config.RUN_TRAINING_JOB].time_limit


def test_worker_commands_and_docs_read_the_table():
    queues = "|".join(celery_config.QUEUES)
    hard_coded = re.compile(r"""-Q["',\s]+["']?(?:""" + queues + r")\b")
    for path in ("scripts/run.sh", "docker/entrypoint-worker.sh", "bench/latency.py", "tests/worker.py"):
        text = (REPO / path).read_text(encoding="utf-8")
        assert not hard_coded.search(text), f"{path}: a hard-coded -Q list"
        if path.endswith(".sh"):
            assert "oncoportal.celery_config queues" in text, path
        else:
            assert 'celery_config.WORKERS["all"]' in text, path
    docs = (REPO / "docs" / "celery.md").read_text(encoding="utf-8")
    assert celery_config.markdown_table() in docs, (
        "docs/celery.md: paste `python -m oncoportal.celery_config table`"
    )
    assert hard_coded.search('"-Q", "default,inference"') and hard_coded.search("-Q interactive,inference")


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_TASK_", "DJANGO_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**base, "DJANGO_SETTINGS_MODULE": "oncoportal.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_prints_queue_lists_for_the_worker_scripts():
    result = subprocess.run(
        [sys.executable, "-m", "oncoportal.celery_config", "queues", "gpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ",".join(celery_config.WORKERS["gpu"])
    bad = subprocess.run(
        [sys.executable, "-m", "oncoportal.celery_config", "queues", "tpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "usage:" in bad.stderr


def test_environment_limits_reach_the_decorator_settings_and_sweeper():
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from inference.tasks import run_predictions\n"
        "from oncoportal import celery_config as c\n"
        "print(run_predictions.soft_time_limit, run_predictions.time_limit, settings.CELERY_TASK_TIME_LIMIT,"
        " c.lost_after_s(c.RUN_PREDICTIONS))\n"
    )
    result = _python(code, CELERY_TASK_SOFT_TIME_LIMIT="1200", CELERY_TASK_TIME_LIMIT="1500")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1200", "1500", "1500", "1560"]


def test_a_soft_limit_over_the_hard_one_stops_start_up_with_one_line():
    result = _python("import django; django.setup()", CELERY_TASK_SOFT_TIME_LIMIT="1000")
    assert result.returncode != 0
    assert "soft time limit (1000 s) must be positive and below the hard one (900 s)" in result.stderr
    short = _python(
        "import django; django.setup()",
        CELERY_BROKER_URL="redis://127.0.0.1:9/0",
        CELERY_VISIBILITY_TIMEOUT="600",
    )
    assert short.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT=600 must exceed the longest task time limit (900 s)" in short.stderr


def test_training_limits_come_from_the_environment_and_leave_the_visibility_timeout_alone():
    code = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "from retraining.tasks import run_training_job as t\n"
        "print(t.soft_time_limit, t.time_limit, settings.CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'])\n"
    )
    result = _python(
        code,
        ONCOPORTAL_TRAINING_SOFT_TIME_LIMIT="7200",
        ONCOPORTAL_TRAINING_TIME_LIMIT="7300",
        CELERY_BROKER_URL="redis://127.0.0.1:9/0",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7200", "7300", "3600"]
    bad = _python("import django; django.setup()", ONCOPORTAL_TRAINING_SOFT_TIME_LIMIT="90000")
    assert bad.returncode != 0 and "ONCOPORTAL_TRAINING_SOFT_TIME_LIMIT" in bad.stderr
