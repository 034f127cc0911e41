"""`manage.py evaluate_model`: queues an evaluation, refuses in one line, prints the figures side by side."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from lifecycle.management.commands.evaluate_model import report
from lifecycle.models import Evaluation, RunStatus
from lifecycle.services.evaluations import evaluation_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(mocker):
    return mocker.patch("lifecycle.services.evaluations.current_app.send_task")


def test_queues_an_evaluation_by_name_and_version(snapshot, champion, candidate, sent):
    out = StringIO()
    call_command("evaluate_model", "--candidate", str(candidate), "--snapshot", snapshot.name, stdout=out)
    evaluation = Evaluation.objects.get()
    assert out.getvalue().strip() == (
        f"evaluation {evaluation.pk} queued: {candidate} vs {champion} on brain_mri-v1 (test)"
    )
    assert evaluation.status == RunStatus.QUEUED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--candidate", "nope@1"], "no registered model 'nope@1'"),
        (["--snapshot", "brain_mri-v7"], "no snapshot 'brain_mri-v7'"),
        ([], "already active for brain_mri"),
    ],
)
def test_bad_input_exits_with_one_line(snapshot, champion, candidate, sent, args, message):
    argv = ["--candidate", str(champion), *args]
    with pytest.raises(CommandError, match=message) as caught:
        call_command("evaluate_model", *argv, stdout=StringIO())
    assert "\n" not in str(caught.value)
    assert not Evaluation.objects.exists()


def test_the_report_prints_both_sides_the_paired_test_and_the_notes(snapshot, champion, candidate, sent):
    call_command("evaluate_model", "--candidate", str(candidate), stdout=StringIO())
    evaluation = Evaluation.objects.get()
    evaluation_run(evaluation_id=evaluation.pk)
    evaluation.refresh_from_db()
    text = report(evaluation)
    lines = text.splitlines()
    assert lines[0] == f"evaluation {evaluation.pk}: 4 images of brain_mri-v1 (test)"
    header = next(line for line in lines if line.startswith("metric"))
    assert header.split() == ["metric", "champion", "candidate", "delta"]
    accuracy = next(line for line in lines if line.startswith("Accuracy"))
    sides = evaluation.results["sides"]
    assert f"{sides['champion']['metrics']['accuracy']:.3f}" in accuracy
    assert f"{sides['candidate']['metrics']['accuracy']:.3f}" in accuracy
    assert any(line.startswith("glioma: sensitivity") for line in lines)
    assert any(line.startswith("The difference is") for line in lines)
    assert any(line.startswith("note: The candidate") and "random weights" in line for line in lines)
