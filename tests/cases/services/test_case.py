"""case_edit: a Curator's edits, each through the service that owns the field."""

from __future__ import annotations

import pytest

from cases.models import AuditEvent, Case
from cases.services.audit import AuditContext
from cases.services.case import case_edit
from cases.signals import case_task_changed
from oncoportal.exceptions import InvalidInput

pytestmark = pytest.mark.django_db

CLI = AuditContext.system(source="cli")


def test_task_change_sends_the_signal_the_inference_app_listens_to(
    ct_case, curator, django_capture_on_commit_callbacks
):
    sent = []

    def listener(sender, **kwargs):
        sent.append((kwargs["case_id"], kwargs["task"], kwargs["previous_task"]))

    case_task_changed.connect(listener)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            updated = case_edit(case=ct_case, changes={"task": "lung_ct"}, user=curator, audit=CLI)
    finally:
        case_task_changed.disconnect(listener)
    assert updated.task == "lung_ct" and sent == [(ct_case.pk, "lung_ct", "unassigned")]
    assert AuditEvent.objects.get(action="case.task_changed").source == "cli"


def test_assignee_and_flags_are_written_and_audited_once(ct_case, curator, radiologist):
    updated = case_edit(
        case=ct_case,
        changes={"assignee": radiologist, "flagged": True, "flag_reason": "wrong side marker"},
        user=curator,
        audit=CLI,
    )
    stored = Case.objects.get(pk=ct_case.pk)
    assert (stored.assignee, stored.flagged, stored.flag_reason) == (radiologist, True, "wrong side marker")
    assert updated.assignee == radiologist
    event = AuditEvent.objects.get(action="case.admin_changed")
    assert event.detail == {"fields": ["assignee", "flag_reason", "flagged"]} and event.actor == curator


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"status": "reviewed"}, "cannot be edited: status"),
        ({"flagged": "yes", "priority": 2}, "Flagged must be true or false"),
        ({"flag_reason": "x" * 301}, "at most 300 characters"),
        ({"assignee": "rad"}, "must be a user"),
        ({"task": "liver_us", "flagged": True}, "Unknown task"),
        ({"priority": 7}, "Unknown priority"),
    ],
)
def test_bad_edits_raise_and_write_nothing(ct_case, curator, changes, reason):
    before = Case.objects.filter(pk=ct_case.pk).values().get()
    events = AuditEvent.objects.count()
    with pytest.raises(InvalidInput, match=reason):
        case_edit(case=ct_case, changes=changes, user=curator, audit=CLI)
    # The pytest transaction is still open: what the service wrote before raising would show here,
    # unless its own atomic block rolled it back.
    assert Case.objects.filter(pk=ct_case.pk).values().get() == before
    assert AuditEvent.objects.count() == events


def test_no_changes_write_nothing(ct_case, curator):
    events = AuditEvent.objects.count()
    assert case_edit(case=ct_case, changes={}, user=curator) == ct_case
    assert AuditEvent.objects.count() == events
