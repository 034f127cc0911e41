"""The Training jobs tab: Curators only, start, progress JSON, cancel; the admin's cancel action."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from retraining.models import JobMode, JobStatus, TrainingJob

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(mocker):
    return mocker.patch("retraining.services.jobs.current_app.send_task")


@pytest.fixture
def curator_client(client, curator):
    client.force_login(curator)
    return client


@pytest.fixture
def job(snapshot_row, curator):
    return TrainingJob.objects.create(
        snapshot=snapshot_row, task="brain_mri", mode=JobMode.FRESH, recipe="smoke", created_by=curator
    )


def test_other_roles_get_403_everywhere(client, radiologist, reviewer, job):
    urls = [
        reverse("retraining:jobs"),
        reverse("retraining:job", args=[job.pk]),
        reverse("retraining:job_status", args=[job.pk]),
    ]
    for user in (radiologist, reviewer):
        client.force_login(user)
        for url in urls:
            assert client.get(url).status_code == 403, url
        assert client.post(reverse("retraining:job_cancel", args=[job.pk])).status_code == 403
        assert client.post(reverse("retraining:jobs"), {"snapshot": job.snapshot_id}).status_code == 403
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.QUEUED
    client.logout()
    assert client.get(urls[0]).status_code == 302  # to the login page


def test_the_list_shows_jobs_the_form_and_the_recipes(curator_client, job):
    response = curator_client.get(reverse("retraining:jobs"))
    assert response.status_code == 200
    html = response.content.decode()
    assert f"#{job.pk}" in html and "brain_mri-v1" in html
    assert 'value="smoke"' in html and 'value="quick"' in html
    assert 'aria-current="page">Training jobs' in html


def test_start_from_the_form_queues_a_job_and_opens_its_page(
    curator_client, snapshot_row, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = curator_client.post(
            reverse("retraining:jobs"), {"snapshot": snapshot_row.pk, "mode": "fresh", "recipe": "smoke"}
        )
    job = TrainingJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("retraining:job", args=[job.pk])
    assert job.recipe == "smoke" and job.mode == JobMode.FRESH and job.created_by.username == "cur"
    assert sent.call_count == 1


def test_start_with_a_refused_combination_says_why(curator_client, snapshot_row, sent):
    response = curator_client.post(
        reverse("retraining:jobs"), {"snapshot": snapshot_row.pk, "mode": "finetune", "recipe": "smoke"}
    )
    assert response.status_code == 400
    assert "fine-tuning needs an active model for brain_mri" in response.content.decode()
    bad = curator_client.post(
        reverse("retraining:jobs"), {"snapshot": snapshot_row.pk, "mode": "fresh", "recipe": "x"}
    )
    assert bad.status_code == 400 and not TrainingJob.objects.exists()


def test_progress_json_and_page_show_the_numbers(curator_client, job):
    TrainingJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        phase="training",
        epoch=1,
        epochs=4,
        step=5,
        steps=10,
        train_loss=0.9,
        val_metrics={"macro_f1": 0.42, "accuracy": 0.5},
        eta_seconds=33,
        history=[{"epoch": 0, "train_loss": 1.2, "val_macro_f1": 0.42, "val_accuracy": 0.5}],
        heartbeat_at=timezone.now(),
    )
    data = curator_client.get(reverse("retraining:job_status", args=[job.pk])).json()
    assert data["status"] == "running" and data["phase_display"] == "Training"
    assert data["fraction"] == pytest.approx(1.5 / 4)
    assert data["val_macro_f1"] == 0.42 and data["eta_seconds"] == 33
    assert data["history"] == [{"epoch": 1, "train_loss": 1.2, "val_macro_f1": 0.42, "val_accuracy": 0.5}]
    page = curator_client.get(reverse("retraining:job", args=[job.pk])).content.decode()
    assert "0.9000" in page and "0.420" in page and 'id="job-cancel"' in page
    assert curator_client.get(reverse("retraining:job_status", args=[job.pk + 99])).status_code == 404


def test_cancel_button_cancels_and_a_finished_job_says_why_not(curator_client, job):
    response = curator_client.post(reverse("retraining:job_cancel", args=[job.pk]), follow=True)
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.CANCELLED
    assert "cancelled" in response.content.decode().lower()
    again = curator_client.post(reverse("retraining:job_cancel", args=[job.pk]), follow=True)
    assert again.status_code == 200
    TrainingJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED)
    refused = curator_client.post(reverse("retraining:job_cancel", args=[job.pk]), follow=True)
    assert "has already failed" in refused.content.decode()
    assert curator_client.get(reverse("retraining:job_cancel", args=[job.pk])).status_code == 405


def test_admin_is_read_only_with_a_cancel_action(curator_client, job):
    changelist = reverse("admin:retraining_trainingjob_changelist")
    page = curator_client.get(changelist)
    assert page.status_code == 200 and 'value="cancel"' in page.content.decode()
    assert curator_client.get(reverse("admin:retraining_trainingjob_add")).status_code == 403
    curator_client.post(changelist, {"action": "cancel", "_selected_action": [job.pk]})
    assert TrainingJob.objects.get(pk=job.pk).status == JobStatus.CANCELLED
