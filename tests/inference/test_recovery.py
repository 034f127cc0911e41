"""Recovery in-process: a case whose queueing was lost, dead workers found by heartbeat or pid, claim tokens.

The fault test with a real worker killed 20 times is tests/inference/test_sigkill.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.db.utils import OperationalError
from django.utils import timezone

from cases.models import Case, CaseStatus, Site, Task
from cases.services.intake import intake_sources
from inference import pipeline
from inference.claims import worker_gone, worker_identity
from inference.models import Prediction
from inference.services import prediction_request
from inference.sweep import cases_sweep, predictions_sweep

pytestmark = pytest.mark.django_db

RUN = "inference.tasks.run_predictions"


def _upload(data_dir, *, site, user, n=2, task=Task.BRAIN_MRI, skip=0) -> list[int]:
    paths = sorted((data_dir / "brain_mri" / "train" / "notumor").glob("*.jpg"))[skip : skip + n]
    report = intake_sources(
        uploads=[(p.name, p.read_bytes()) for p in paths], site=site, user=user, source="web", task=task
    )
    assert len(report.accepted) == n
    return sorted(report.case_ids)


def _age_cases(case_ids, settings) -> None:
    old = timezone.now() - timedelta(seconds=settings.PREDICTION_CASE_SWEEP_AFTER + 1)
    Case.objects.filter(pk__in=case_ids).update(created_at=old)


def test_a_case_whose_on_commit_handler_failed_is_queued_by_the_sweeper(
    data_dir, site, radiologist, random_model, django_capture_on_commit_callbacks, mocker, settings
):
    # The handler that creates predictions fails after the intake committed (as "database is
    # locked" did on SQLite); robust=True swallows it, so the upload stands with no prediction.
    mocker.patch("inference.receivers.prediction_request", side_effect=OperationalError("database is locked"))
    with django_capture_on_commit_callbacks(execute=True):
        case_ids = _upload(data_dir, site=site, user=radiologist)
    assert Prediction.objects.count() == 0
    assert set(Case.objects.values_list("status", flat=True)) == {CaseStatus.RECEIVED}
    mocker.stopall()

    send = mocker.patch("inference.sweep.current_app.send_task")
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_sweep() == 0  # a young case may still be on its way
    _age_cases(case_ids, settings)
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_sweep() == 2
    sent = sorted(pk for call in send.call_args_list for pk in call.kwargs["args"][0])
    assert sent == sorted(Prediction.objects.values_list("pk", flat=True))
    assert all(call.args == (RUN,) for call in send.call_args_list)
    assert set(Case.objects.values_list("status", flat=True)) == {CaseStatus.QUEUED}
    assert {p.model_version_id for p in Prediction.objects.all()} == {random_model.pk}

    # Once queued, the sweep finds nothing more, and the normal path creates nothing twice.
    with django_capture_on_commit_callbacks(execute=True):
        assert cases_sweep() == 0
    for case in Case.objects.all():
        assert prediction_request(case=case) == []
    assert Prediction.objects.count() == 2
    pipeline.predictions_run(prediction_ids=sent)
    assert set(Case.objects.values_list("status", flat=True)) == {CaseStatus.PREDICTED}


@pytest.mark.django_db(transaction=True)
def test_the_case_sweep_and_the_normal_path_racing_create_one_row_per_image(
    data_dir, site, radiologist, random_model, django_capture_on_commit_callbacks, mocker, settings
):
    if connection.vendor != "postgresql":
        # On SQLite the sweep's transaction holds the write lock, so no insert can come between.
        pytest.skip("a concurrent writer needs PostgreSQL")
    mocker.patch("inference.receivers.prediction_request")  # the handler never ran
    case_ids = _upload(data_dir, site=site, user=radiologist, n=1)
    mocker.stopall()
    case = Case.objects.get(pk=case_ids[0])
    _age_cases(case_ids, settings)
    send = mocker.patch("inference.sweep.current_app.send_task")
    delay = mocker.patch("inference.services.run_predictions.delay")
    # The sweep found the image unscored; the normal path, in another connection, commits its
    # row just before the sweep inserts its own.
    real_bulk_create = Prediction.objects.bulk_create
    raced: list[list[Prediction]] = []
    started: list[bool] = []

    def normal_path(case_id: int) -> None:
        try:
            with transaction.atomic():
                raced.append(prediction_request(case=Case.objects.get(pk=case_id)))
        finally:
            connections.close_all()

    def normal_path_first(objs, **kwargs):
        if not started:  # once: the normal path's own insert goes straight through
            started.append(True)
            thread = threading.Thread(target=normal_path, args=(case.pk,))
            thread.start()
            thread.join()
        return real_bulk_create(objs, **kwargs)

    mocker.patch.object(Prediction.objects, "bulk_create", side_effect=normal_path_first)
    with django_capture_on_commit_callbacks(execute=True):
        assert cases_sweep() == 0
    assert Prediction.objects.filter(image__case=case).count() == 1
    assert [len(rows) for rows in raced] == [1]  # the normal path's row, sent by it alone
    assert delay.call_count == 1 and send.call_count == 0


def test_the_case_sweep_leaves_base_data_and_tasks_without_a_model_alone(
    data_dir, site, radiologist, random_model, mocker, settings
):
    mocker.patch("inference.receivers.prediction_request")
    unassigned = _upload(data_dir, site=site, user=radiologist, n=1, task=Task.UNASSIGNED)
    base = Site.objects.create(code=settings.BASE_DATA_SITE, name="Base data")
    base_case = _upload(data_dir, site=base, user=radiologist, n=1, skip=1)
    _age_cases([*unassigned, *base_case], settings)
    assert cases_sweep() == 0
    assert Prediction.objects.count() == 0


def _claimed(prediction_ids, *, worker: str, heartbeat_age: float = 0.0) -> list[Prediction]:
    claimed = pipeline._claim(prediction_ids, worker=worker)
    Prediction.objects.filter(pk__in=prediction_ids).update(
        heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age)
    )
    return claimed


@pytest.fixture
def queued(brain_case, random_model, django_capture_on_commit_callbacks, mocker):
    mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        return [p.pk for case in brain_case for p in prediction_request(case=case)]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_running_prediction_is_requeued_once_its_heartbeat_is_stale_or_its_pid_gone(
    queued, django_capture_on_commit_callbacks, mocker, settings
):
    host = socket.gethostname()
    elsewhere, here = queued
    _claimed([elsewhere], worker="elsewhere:1")  # another host, beating
    _claimed([here], worker=worker_identity())  # this process: alive, beating
    assert worker_gone(f"{host}:{_dead_pid()}")
    assert not worker_gone(worker_identity())
    assert not worker_gone("elsewhere:1")  # another host: only its heartbeat can tell

    send = mocker.patch("inference.sweep.current_app.send_task")
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_sweep() == 0  # fresh beats, live process: long batches are left alone
    stale = timezone.now() - timedelta(seconds=settings.PREDICTION_HEARTBEAT_STALE_S + 1)
    Prediction.objects.filter(pk=elsewhere).update(heartbeat_at=stale)
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_sweep() == 1
    send.assert_called_once_with(RUN, args=[[elsewhere]])
    row = Prediction.objects.get(pk=elsewhere)
    assert (row.status, row.worker, row.heartbeat_at) == (Prediction.Status.QUEUED, "", None)
    assert Prediction.objects.get(pk=here).status == Prediction.Status.RUNNING

    # This host's run dies: its pid is gone while its last beat is still fresh.
    Prediction.objects.filter(pk=here).update(worker=f"{host}:{_dead_pid()}")
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_sweep() == 1
    assert Prediction.objects.get(pk=here).status == Prediction.Status.QUEUED


def test_a_slow_worker_whose_rows_were_claimed_again_writes_nothing(
    queued, django_capture_on_commit_callbacks, mocker, settings
):
    mocker.patch("inference.sweep.current_app.send_task")
    old = _claimed(queued, worker="slow:1", heartbeat_age=settings.PREDICTION_HEARTBEAT_STALE_S + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_sweep() == 2
    new = pipeline._claim(queued, worker="fresh:2")
    assert [p.attempts for p in new] == [2, 2]
    # The slow run finishes now: its claim (attempt 1) is no longer the rows' claim.
    assert pipeline._run_claimed(old) == 0
    for p in Prediction.objects.filter(pk__in=queued):
        assert (p.status, p.worker, p.label) == (Prediction.Status.RUNNING, "fresh:2", "")
    assert pipeline._run_claimed(new) == 2
    assert set(Prediction.objects.values_list("status", flat=True)) == {Prediction.Status.DONE}


def test_a_case_left_predicting_by_a_killed_worker_is_settled_by_the_sweeper(
    queued, django_capture_on_commit_callbacks, mocker, settings
):
    # The worker saved the rows, then died before it refreshed the case: nothing is left to run.
    claimed = _claimed(queued, worker="gone:1")
    Case.objects.filter(images__predictions__in=queued).update(status=CaseStatus.PREDICTING)
    Prediction.objects.filter(pk__in=[p.pk for p in claimed]).update(
        status=Prediction.Status.DONE, label="notumor", finished_at=timezone.now()
    )
    with django_capture_on_commit_callbacks(execute=True):
        predictions_sweep()
    assert set(Case.objects.values_list("status", flat=True)) == {CaseStatus.PREDICTING}  # too young
    old = timezone.now() - timedelta(seconds=settings.PREDICTION_CASE_SWEEP_AFTER + 1)
    Case.objects.update(status_changed_at=old)
    with django_capture_on_commit_callbacks(execute=True):
        assert predictions_sweep() == 0  # nothing sent
    assert set(Case.objects.values_list("status", flat=True)) == {CaseStatus.PREDICTED}
