"""manage.py promote_model / rollback_model: the services from the command line, one-line errors, audited as cli."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from cases.models import AuditEvent, AuditSource
from inference.selectors import active_ensemble
from lifecycle.models import ModelChange
from tests.lifecycle.conftest import metrics

pytestmark = pytest.mark.django_db


def test_promote_and_roll_back_from_the_command_line(random_model, candidate, make_evaluation, capsys):
    make_evaluation(candidate)
    call_command("promote_model", str(candidate), "--reason", "nightly")
    out = capsys.readouterr().out
    assert f"{candidate.label} promoted on brain_mri" in out and "passed all 4 checks" in out
    assert active_ensemble(task="brain_mri") == [candidate]
    event = AuditEvent.objects.get(action="model.promoted")
    assert event.source == AuditSource.CLI and event.detail["reason"] == "nightly"

    call_command("rollback_model", "--task", "brain_mri")
    assert f"brain_mri rolled back (change {ModelChange.objects.first().pk})" in capsys.readouterr().out
    assert active_ensemble(task="brain_mri") == [random_model]
    assert AuditEvent.objects.get(action="model.rolled_back").source == AuditSource.CLI


def test_a_refused_promotion_is_one_line_and_changes_nothing(random_model, candidate, make_evaluation):
    with pytest.raises(CommandError, match="it has no finished evaluation; evaluate it against"):
        call_command("promote_model", str(candidate))
    make_evaluation(candidate, champion=metrics(0.9), challenger=metrics(0.5))
    with pytest.raises(CommandError, match=r"the gate refused .*Macro-F1 0\.500 is 0\.400 below"):
        call_command("promote_model", str(candidate))
    with pytest.raises(CommandError, match="no evaluation 999"):
        call_command("promote_model", str(candidate), "--evaluation", "999")
    assert active_ensemble(task="brain_mri") == [random_model]
    assert not ModelChange.objects.exists()


def test_roll_back_with_nothing_to_undo_or_an_unknown_change(random_model):
    with pytest.raises(CommandError, match="brain_mri has no promotion or roll-back to undo"):
        call_command("rollback_model", "--task", "brain_mri")
    with pytest.raises(CommandError, match="no change 42 on brain_mri"):
        call_command("rollback_model", "--task", "brain_mri", "--change", "42")
