"""A case without a task says so and asks for one (worklist and case page); presets follow the modality."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from cases.models import AuditEvent, Case, User

pytestmark = pytest.mark.django_db


def _row(html: str, case: Case) -> str:
    match = re.search(rf'<tr data-case-id="{case.pk}".*?</tr>', html, re.S)
    assert match, f"no row for case {case.pk}"
    return match.group(0)


def test_the_worklist_row_says_task_needed_and_offers_the_tasks(
    client, radiologist, ct_case, make_case, site
):
    routed = make_case(site, task="lung_ct")
    client.force_login(radiologist)
    html = client.get(reverse("cases:worklist")).content.decode()
    row = _row(html, ct_case)
    assert "Task needed" in row and "No routing rule matched the header" in row
    assert f'action="{reverse("cases:case_task", args=[ct_case.pk])}"' in row
    assert re.findall(r'<option value="(\w+)">', row) == ["brain_mri", "lung_ct", "histology"]
    assert "Task needed" not in _row(html, routed)


def test_a_reader_who_may_not_change_cases_sees_the_need_but_no_picker(client, reviewer, ct_case):
    client.force_login(reviewer)
    row = _row(client.get(reverse("cases:worklist")).content.decode(), ct_case)
    assert "Task needed" in row and "<select" not in row


def test_setting_the_task_from_the_worklist_comes_back_to_it(client, radiologist, ct_case):
    client.force_login(radiologist)
    back = reverse("cases:worklist") + "?order=newest"
    response = client.post(reverse("cases:case_task", args=[ct_case.pk]), {"task": "lung_ct", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    ct_case.refresh_from_db()
    assert ct_case.task == "lung_ct" and not ct_case.task_inferred and ct_case.task_reason == ""
    assert AuditEvent.objects.filter(action="case.task_changed", object_id=str(ct_case.pk)).exists()
    # Elsewhere than this site: back to the case instead.
    response = client.post(
        reverse("cases:case_task", args=[ct_case.pk]), {"task": "histology", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("cases:case_detail", args=[ct_case.pk])


def test_the_case_page_asks_for_a_task_instead_of_promising_a_result(client, radiologist, reviewer, ct_case):
    client.force_login(radiologist)
    html = client.get(reverse("cases:case_detail", args=[ct_case.pk])).content.decode()
    section = re.search(r'<section class="alert alert-warn task-needed".*?</section>', html, re.S).group(0)
    assert "Task needed" in section and "No routing rule matched the header" in section
    assert "No model reads this study until it has a task" in section
    assert (
        f'action="{reverse("cases:case_task", args=[ct_case.pk])}"' in section
        and 'value="lung_ct"' in section
    )
    assert "No AI result for this image yet" not in html
    client.force_login(reviewer)
    html = client.get(reverse("cases:case_detail", args=[ct_case.pk])).content.decode()
    assert "A radiologist or a curator can set it." in html and 'id="task-needed-form"' not in html
    # Once it has a task, the page no longer asks.
    ct_case.task = "lung_ct"
    ct_case.save()
    client.force_login(radiologist)
    html = client.get(reverse("cases:case_detail", args=[ct_case.pk])).content.decode()
    assert 'id="task-needed"' not in html


def _presets(html: str) -> tuple[list[str], list[str]]:
    script = re.search(r'<script id="window-presets" type="application/json">(.*?)</script>', html, re.S)
    assert script is not None
    return [p["key"] for p in json.loads(script.group(1))], re.findall(r'data-preset="(\w+)"', html)


def test_ct_window_presets_are_offered_on_ct_only(client, radiologist, site, make_case):
    client.force_login(radiologist)
    ct = make_case(site, task="lung_ct", modality="CT")
    mr = make_case(site, task="brain_mri", modality="MR")
    us = make_case(site, task="unassigned", modality="US")
    ct_keys, ct_buttons = _presets(client.get(reverse("cases:case_detail", args=[ct.pk])).content.decode())
    assert ct_keys == ["lung", "mediastinum", "brain", "bone"] and ct_buttons == ["default", *ct_keys]
    for case in (mr, us):
        keys, buttons = _presets(client.get(reverse("cases:case_detail", args=[case.pk])).content.decode())
        assert keys == [] and buttons == ["default"], case.study.modality


def test_the_demo_dicom_studies_ask_for_a_task_and_move_on_once_given(
    client, settings, data_dir, random_model, mocker, django_capture_on_commit_callbacks
):
    settings.DATA_DIR = data_dir
    call_command("setup_demo", stdout=io.StringIO())
    demo = Case.objects.filter(study__is_dicom=True).select_related("study").order_by("study__modality")
    assert [(c.study.modality, c.task, c.status) for c in demo] == [
        ("CT", "unassigned", "received"),
        ("MR", "unassigned", "received"),
        ("OT", "unassigned", "received"),
    ]
    assert all(c.task_reason.startswith("No routing rule matched") for c in demo)
    client.force_login(User.objects.get(username="radiologist"))
    html = client.get(reverse("cases:worklist")).content.decode()
    for case in demo:
        assert "Task needed" in _row(html, case) and "<select" in _row(html, case)
    mr = demo[1]
    mocker.patch("inference.services.run_predictions.delay")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("cases:case_task", args=[mr.pk]), {"task": "brain_mri", "next": reverse("cases:worklist")}
        )
    mr.refresh_from_db()
    assert mr.task == "brain_mri" and mr.status == "queued"  # the brain model reads it now
